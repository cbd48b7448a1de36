// =============================================================================
// snn_multicore.v -- N_CORES digital cores behind one host port (core-by-core flow)
// =============================================================================
// One snn_core per mesh core, each with its own weights, registers and
// membranes (so continuous-mode state survives between timesteps). The host
// port is shared: `core_sel` picks the core that the load interface, the AER
// spike input and `start` address, and whose status, spike output and membrane
// readout appear on the outputs. There is no NoC in this step: the testbench
// acts as host and router, runs the stages of a timestep core by core, feeds
// each core the spikes the RTL cores of earlier stages produced, and adds the
// chip-spec §1.2 route and barrier cycles to the RTL-measured core cycles
// (docs/rtl.md, "Multi-core flow"). No partial sums (chip-spec §1.3): its
// cores are built with PARTIAL_SUMS = 0; rtl/snn_chip.v has them.
`default_nettype none

module snn_multicore #(
    // Number of cores (mesh_rows * mesh_cols); 1..4096.
    parameter integer N_CORES = 4,
    // Axons per core (A); 1..4096.
    parameter integer AXONS = 1024,
    // Neurons per core (N); 1..4096, a multiple of LANES.
    parameter integer NEURONS = 256,
    // Parallel accumulator lanes (P); 1..NEURONS, divides NEURONS.
    parameter integer LANES = 16,
    // Signed weight width in bits; 2..16, < V_BITS.
    parameter integer W_BITS = 8,
    // Signed membrane, bias and threshold width in bits; 4..32, > W_BITS.
    parameter integer V_BITS = 16
) (
    input  wire                    clk,         // clock, rising edge
    input  wire                    rst_n,       // synchronous reset, active low
    input  wire [CS_W-1:0]         core_sel,    // core addressed by every port below
    // load interface (see snn_core) ------------------------------------------------
    input  wire                    ld_valid,    // write this cycle (selected core IDLE)
    input  wire [1:0]              ld_kind,     // 0 weight word, 1 bias word, 2 register, 3 command
    input  wire [LDA_W-1:0]        ld_addr,     // word / group / register / command index
    input  wire [LD_W-1:0]         ld_data,     // write data
    // spike events in (AER) --------------------------------------------------------
    input  wire                    in_valid,    // a spike for the selected core's next timestep
    input  wire [AX_W-1:0]         in_axon,     // its axon index, < AXONS
    // control ----------------------------------------------------------------------------
    input  wire                    start,       // run one timestep of the selected core
    output wire                    busy,        // selected core is in START .. DONE
    output wire                    done,        // selected core is in DONE
    // spikes out (selected core) ---------------------------------------------------
    output wire                    out_valid,   // out_group/out_spikes valid
    output wire [G_W-1:0]          out_group,   // lane group
    output wire [LANES-1:0]        out_spikes,  // bit l: neuron out_group*LANES + l fired
    output wire [LANES*V_BITS-1:0] out_v,       // end-of-timestep membranes of the group
    // membrane readout (selected core) ---------------------------------------------
    input  wire [G_W-1:0]          rd_group,    // lane group to read
    output wire [LANES*V_BITS-1:0] rd_v         // its membranes
);

    localparam integer GROUPS  = NEURONS / LANES;
    localparam integer CS_W    = (N_CORES > 1) ? $clog2(N_CORES) : 1;
    localparam integer AX_W    = (AXONS > 1) ? $clog2(AXONS) : 1;
    localparam integer G_W     = (GROUPS > 1) ? $clog2(GROUPS) : 1;
    localparam integer N_W     = (NEURONS > 1) ? $clog2(NEURONS) : 1;  // neuron index (snn_core's ps_neuron)
    localparam integer WADDR_W = (AXONS * GROUPS > 1) ? $clog2(AXONS * GROUPS) : 1;
    localparam integer LD_W    = (LANES * V_BITS > 32) ? LANES * V_BITS : 32;
    localparam integer LDA_W   = (WADDR_W > 2) ? WADDR_W : 2;
    localparam integer OUT_W   = 3 + G_W + LANES + 2 * LANES * V_BITS;   // per-core output bundle

    wire [N_CORES*OUT_W-1:0] bundles;

    genvar c;
    generate
        for (c = 0; c < N_CORES; c = c + 1) begin : g_core
            wire sel = (core_sel == c[CS_W-1:0]);
            wire c_busy, c_done, c_out_valid;

            // Clock gate (latch-based, glitch-free): a core is clocked only while it is
            // selected, busy or in reset. Idle cores keep their state and spend no
            // clock power, and a cycle-based simulator does not evaluate them.
            wire clk_en = sel || c_busy || !rst_n;
            reg  clk_en_latch;
            /* verilator lint_off LATCH */  // the intended ICG latch, transparent while clk is low
            always @(clk or clk_en)
                if (!clk)
                    clk_en_latch = clk_en;
            /* verilator lint_on LATCH */
            wire gclk = clk & clk_en_latch;
            wire [G_W-1:0] c_out_group;
            wire [LANES-1:0] c_out_spikes;
            wire [LANES*V_BITS-1:0] c_out_v, c_rd_v;

            /* verilator lint_off PINCONNECTEMPTY */
            snn_core #(
                .AXONS(AXONS), .NEURONS(NEURONS), .LANES(LANES), .W_BITS(W_BITS), .V_BITS(V_BITS)
            ) u_core (
                .clk        (gclk),
                .rst_n      (rst_n),
                .ld_valid   (ld_valid && sel),
                .ld_kind    (ld_kind),
                .ld_addr    (ld_addr),
                .ld_data    (ld_data),
                .in_valid   (in_valid && sel),
                .in_axon    (in_axon),
                .start      (start && sel),
                .busy       (c_busy),
                .done       (c_done),
                .out_valid  (c_out_valid),
                .out_group  (c_out_group),
                .out_spikes (c_out_spikes),
                .out_v      (c_out_v),
                .rd_group   (rd_group),
                .rd_v       (c_rd_v),
                .ps_valid   (1'b0),               // no partial sums here (PARTIAL_SUMS = 0: ignored)
                .ps_neuron  ({N_W{1'b0}}),
                .ps_value   ({V_BITS{1'b0}}),
                .ps_rd_group({G_W{1'b0}}),
                .ps_rd_v    ()
            );
            /* verilator lint_on PINCONNECTEMPTY */

            assign bundles[c*OUT_W +: OUT_W] = {c_busy, c_done, c_out_valid, c_out_group, c_out_spikes, c_out_v, c_rd_v};
        end
    endgenerate

    wire [OUT_W-1:0] sel_bundle = bundles[core_sel * OUT_W +: OUT_W];
    assign {busy, done, out_valid, out_group, out_spikes, out_v, rd_v} = sel_bundle;

endmodule

`default_nettype wire
