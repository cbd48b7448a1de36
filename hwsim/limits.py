"""Resource limits: every size or count that comes from an argument or a file is checked against one of these
before anything is allocated or run, so a huge value gives a clear error instead of a MemoryError, swapping or
hours of work. A flat list of named constants; each says why it has its value.
"""

__all__ = [
    "MAX_TIMESTEPS",
    "MAX_SEED",
    "MAX_INSTANCES",
    "MAX_TRAIN_INSTANCES",
    "MAX_ITERATIONS",
    "MAX_EPOCHS",
    "MAX_CALIBRATION_IMAGES",
    "MAX_WORKERS",
    "MAX_SIGMA",
    "MAX_TOML_BYTES",
    "MAX_NESTING_DEPTH",
    "MAX_HEADER_BYTES",
    "MAX_ARRAY_ELEMENTS",
    "MAX_SPARSE_WEIGHTS",
    "MAX_FILE_ARRAY_BYTES",
    "MAX_IDX_BYTES",
    "MAX_IMAGE_SIDE",
]

# Timesteps per image: input rasters are (images, T, inputs) bytes, so 4096 timesteps of one 784-pixel image
# are already 3 MB; the encoder, the simulators and the trainer check the same bound.
MAX_TIMESTEPS = 4096

# Seeds (encoder, annealing, training, RRAM chip instance): NumPy accepts any non-negative integer, but seeds
# are recorded in report.json / yield.json and instance seeds are added to (SEED + N - 1 must stay exact in a
# float64 reader such as a spreadsheet); 2**32 - 1 is the usual 32-bit seed range and far more than enough.
MAX_SEED = 2**32 - 1

# RRAM chip instances of one yield study: each instance is a full test-set simulation (about 10 ms for the
# digits, seconds for MNIST); 100,000 is a week of CPU time on MNIST, well past any useful Monte Carlo.
MAX_INSTANCES = 100_000

# Instances that train the tuning regressors (each is also an offline optimisation, about 10x an instance).
MAX_TRAIN_INSTANCES = 10_000

# Annealing steps of the placer: it draws three arrays of this length (about 32 bytes per step), so 2,000,000
# steps need 64 MB; the default is at most 200,000 (800 per core part).
MAX_ITERATIONS = 2_000_000

# Training epochs (the trainer itself refuses more than 100,000; digits needs 200, MNIST 15).
MAX_EPOCHS = 100_000

# Test images simulated by `--rates dataset:N` to estimate spike rates for placement (the test splits hold
# at most 10,000 images; a few dozen already give stable rates).
MAX_CALIBRATION_IMAGES = 10_000

# Worker threads of a yield study: more threads than this only adds memory (one chip state per thread).
MAX_WORKERS = 1024

# Device and crossbar variation sigma (a fraction of the nominal conductance): beyond 3 the log-normal draws
# are almost all at the conductance limits and the study says nothing new.
MAX_SIGMA = 3.0

# Bytes of a chip config or energy table (TOML): the presets are at most 1.4 kB and the tables 5 kB, so
# 1 MiB leaves room for comments and sources and keeps a wrong file (an image, a dataset) from being parsed.
MAX_TOML_BYTES = 1 << 20

# Nesting levels of the TOML and JSON data in files (tables in tables, lists in lists): the formats use at most
# 5 (program header -> metadata -> placement -> parts -> part); the parsers recurse once per level, so a file
# nested thousands deep would exhaust the stack.
MAX_NESTING_DEPTH = 32

# Bytes of the JSON header of a network or program .npz file: a program for the largest mesh (64 x 64 cores,
# a few routes each) needs about 2 MB; 16 MiB is far beyond it and still parses in well under a second.
MAX_HEADER_BYTES = 1 << 24

# Elements of one array read from a file (.npz member, NIR dataset) or built from one (a NIR layer's dense
# weight matrix): a whole core holds at most 4096 x 4096 = 16 Mi weights; 64 Mi elements is 512 MB in float64.
MAX_ARRAY_ELEMENTS = 1 << 26

# Stored (nonzero) weights of one sparse layer of a network file: the length of its CSC `data` and `indices`
# arrays, which a reader allows instead of MAX_ARRAY_ELEMENTS. A sparse layer holds what its dense form would
# not: the CIFAR-size VGG of benchmarks/bench_cifar.py has conv layers of 72 M, 69 M and 139 M kernel taps
# (the last one unrolled densely would be 4.3 G entries). 256 Mi weights is 1.3 GB as int8 data and int32
# row indices; the whole file stays within MAX_FILE_ARRAY_BYTES.
MAX_SPARSE_WEIGHTS = 1 << 28

# Bytes of all arrays of one .npz or NIR file together, as their headers declare them (checked before any is
# read): the largest legal program, 4096 cores of 4096 x 4096 int32 weights, would need 256 GiB and cannot be
# simulated on one machine anyway; 2 GiB is 100x the largest network shipped or trained in the docs.
MAX_FILE_ARRAY_BYTES = 1 << 31

# Bytes of one IDX dataset file after decompression: MNIST's training images are 47 MB; 1 GiB is 20x that
# and bounds what a corrupt header or a gzip bomb can make us allocate.
MAX_IDX_BYTES = 1 << 30

# Rows or columns of one dataset image: the pixels become network inputs, and a layer's fan-in must fit one
# core's 4096 axons, so no image wider or taller than 4096 pixels can be mapped.
MAX_IMAGE_SIDE = 4096

# A `--rates` .npy spike raster (B, T, inputs) of bytes: 32 MNIST images x 16 timesteps are 400 kB, so 256 MB
# is far beyond any useful calibration, and small enough to load on any machine.
MAX_RATES_RASTER_BYTES = 256 * 2**20
