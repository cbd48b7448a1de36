// =============================================================================
// tb_snn_multicore.v -- SIMULATION-ONLY testbench wrapper of snn_multicore (never synthesised)
// =============================================================================
// The fast co-simulation path (docs/rtl.md, "Co-simulation speed"). It drives
// the unchanged rtl/snn_multicore.v through its ordinary ports exactly as the
// cocotb testbench TB of tests/rtl/test_snn_core.py does -- every input driven
// at a falling clock edge, every output sampled at a falling edge, one load word
// or one AER event per cycle -- but from a Verilog state machine, so cocotb
// awaits once per command (load a core, run one core timestep, read the
// membranes) instead of once per cycle. Results and protocol errors are held on
// wide output ports that the cocotb side reads at the command boundary.
//
// The wrapper makes its own clock (period 2 * HALF_PERIOD time units, 10 ns
// with the harness' 1 ns time unit, harness.CLOCK_PERIOD_NS), so no simulator
// returns to cocotb or to VPI at a clock edge (Verilator builds it with --timing).
//
// Commands (`cmd`, started by toggling `req`; `ack` toggles when it is complete):
//   1 LOAD   play `cmd_count` load words, one per cycle, from the file
//            tb_load_<cmd_file>.hex in the simulator's working directory
//            (one hex word {ld_kind, ld_addr, ld_data} per line), then one
//            cycle with ld_valid low (TB.load_core).
//   2 STEP   send the AER events of `cmd_spikes` (axons ascending, one per
//            cycle), wait until the core is idle, pulse `start`, record
//            out_spikes / out_v of every UPDATE cycle into res_spikes / res_v
//            and the cycles from `start` sampled to `done` inclusive into
//            res_cycles (TB.send_spikes, TB.run_timestep). `cmd_count` = n_neurons.
//   3 READ   read groups 0 .. ceil(cmd_count / LANES) - 1 through rd_group / rd_v
//            into res_v (TB.read_membranes).
//   4 WRITE  one load word `cmd_word`, then one cycle with ld_valid low
//            (TB.clear_membranes).
// `cmd_core` selects the core for the whole command.
//
// res_error bits (STEP): 0 UPDATE groups out of order, 1 an idle lane
// (neuron >= n_neurons) fired, 2 neither out_valid nor done in a cycle after
// UPDATE began, 3 more UPDATE cycles than lane groups, 4 no `done` within the
// longest possible core timestep, 5 the groups seen at `done` were not
// 0 .. G-1. res_error_info: the cycle (counted from start) of the first error.
`default_nettype none

module tb_snn_multicore #(
    parameter integer N_CORES = 4,
    parameter integer AXONS = 1024,
    parameter integer NEURONS = 256,
    parameter integer LANES = 16,
    parameter integer W_BITS = 8,
    parameter integer V_BITS = 16,
    // Half the clock period in time units (the harness builds with a 1 ns unit: 10 ns clock).
    parameter integer HALF_PERIOD = 5
) (
    input  wire                      rst_n,
    // command port ---------------------------------------------------------------
    input  wire                      req,         // toggle: start command `cmd`
    input  wire [2:0]                cmd,         // 1 LOAD, 2 STEP, 3 READ, 4 WRITE
    input  wire [CS_W-1:0]           cmd_core,    // core addressed by the command
    input  wire [31:0]               cmd_count,   // LOAD: words; STEP, READ: n_neurons
    input  wire [15:0]               cmd_file,    // LOAD: file index
    input  wire [AXONS-1:0]          cmd_spikes,  // STEP: bit a = one AER event for axon a
    input  wire [LDE_W-1:0]          cmd_word,    // WRITE: {ld_kind, ld_addr, ld_data}
    output reg                       ack,         // toggles when the command is complete
    // results ----------------------------------------------------------------------
    output reg  [NEURONS-1:0]        res_spikes,  // STEP: neuron j fired
    output reg  [NEURONS*V_BITS-1:0] res_v,       // STEP: out_v in UPDATE; READ: rd_v
    output reg  [31:0]               res_cycles,  // STEP: core cycles
    output reg  [7:0]                res_error,   // STEP: protocol errors (see header)
    output reg  [31:0]               res_error_info
);

    localparam integer GROUPS  = NEURONS / LANES;
    localparam integer CS_W    = (N_CORES > 1) ? $clog2(N_CORES) : 1;
    localparam integer AX_W    = (AXONS > 1) ? $clog2(AXONS) : 1;
    localparam integer G_W     = (GROUPS > 1) ? $clog2(GROUPS) : 1;
    localparam integer WADDR_W = (AXONS * GROUPS > 1) ? $clog2(AXONS * GROUPS) : 1;
    localparam integer LD_W    = (LANES * V_BITS > 32) ? LANES * V_BITS : 32;
    localparam integer LDA_W   = (WADDR_W > 2) ? WADDR_W : 2;
    localparam integer LDE_W   = 2 + LDA_W + LD_W;                        // one load word
    localparam integer LOAD_DEPTH = 4 + GROUPS + AXONS * GROUPS;          // words of one core
    // TB.max_core_cycles: START + every axon x every group + drain + UPDATE.
    localparam integer MAX_CORE_CYCLES = 3 + AXONS * GROUPS + 1 + GROUPS;

    localparam [2:0] C_LOAD = 3'd1, C_STEP = 3'd2, C_READ = 3'd3, C_WRITE = 3'd4;
    localparam [3:0] S_IDLE = 4'd0, S_LOAD = 4'd1, S_LD_END = 4'd2, S_SEND = 4'd3, S_RUN = 4'd4,
                     S_READ = 4'd5, S_ACK = 4'd6;

    reg clk;  // low first, rising at HALF_PERIOD (as the cocotb clock of the other testbenches)
    initial begin
        clk = 1'b0;
        forever #(HALF_PERIOD) clk = ~clk;
    end

    // DUT inputs, all driven at falling edges ------------------------------------------
    reg              ld_valid, in_valid, start;
    reg  [1:0]       ld_kind;
    reg  [LDA_W-1:0] ld_addr;
    reg  [LD_W-1:0]  ld_data;
    reg  [AX_W-1:0]  in_axon;
    reg  [CS_W-1:0]  core_sel;
    reg  [G_W-1:0]   rd_group;
    wire             busy, done, out_valid;
    wire [G_W-1:0]   out_group;
    wire [LANES-1:0] out_spikes;
    wire [LANES*V_BITS-1:0] out_v, rd_v;

    snn_multicore #(
        .N_CORES(N_CORES), .AXONS(AXONS), .NEURONS(NEURONS), .LANES(LANES), .W_BITS(W_BITS), .V_BITS(V_BITS)
    ) dut (
        .clk(clk), .rst_n(rst_n), .core_sel(core_sel),
        .ld_valid(ld_valid), .ld_kind(ld_kind), .ld_addr(ld_addr), .ld_data(ld_data),
        .in_valid(in_valid), .in_axon(in_axon), .start(start), .busy(busy), .done(done),
        .out_valid(out_valid), .out_group(out_group), .out_spikes(out_spikes), .out_v(out_v),
        .rd_group(rd_group), .rd_v(rd_v)
    );

    reg [LDE_W-1:0] load_mem [0:LOAD_DEPTH-1];
    reg [8*32-1:0]  load_file;
    reg [3:0]       state;
    reg             req_seen;
    reg [31:0]      count, idx, n_neurons, n_groups, next_group, run_cycles;
    reg [31:0]      pos;                      // STEP: next axon to look at
    reg [31:0]      scan, cyc;
    reg [AXONS-1:0] send_bits;
    reg             update_seen;
    reg [7:0]       err;
    reg             complete;                  // the command completes at this edge
    integer         l;

    task flag(input integer bit_no, input [31:0] info);
        begin
            if (res_error == 8'd0 && err == 8'd0)
                res_error_info <= info;
            err = err | (8'd1 << bit_no);
        end
    endtask

    // Blocking assignments to scratch variables (err, complete, count, scan, cyc) are intended: this is a testbench.
    /* verilator lint_off BLKSEQ */
    always @(negedge clk) begin
        err = 8'd0;
        complete = 1'b0;
        if (!rst_n) begin
            state <= S_IDLE;
            req_seen <= req;
            ack <= 1'b0;
            {ld_valid, in_valid, start} <= 3'b000;
            ld_kind <= 2'd0;
            ld_addr <= {LDA_W{1'b0}};
            ld_data <= {LD_W{1'b0}};
            in_axon <= {AX_W{1'b0}};
            core_sel <= {CS_W{1'b0}};
            rd_group <= {G_W{1'b0}};
            res_cycles <= 32'd0;
            res_error <= 8'd0;
            res_error_info <= 32'd0;
        end else begin
            case (state)
                S_IDLE: if (req != req_seen) begin
                    req_seen <= req;
                    core_sel <= cmd_core;
                    count = cmd_count;
                    case (cmd)
                        C_LOAD: begin
                            $sformat(load_file, "tb_load_%0d.hex", cmd_file);
                            if (count > LOAD_DEPTH) begin
                                $display("tb_snn_multicore: LOAD of %0d words, at most %0d", count, LOAD_DEPTH);
                                $finish;
                            end
                            if (count > 0)
                                $readmemh(load_file, load_mem, 0, count - 1);
                            idx <= 32'd1;
                            if (count > 0) begin
                                ld_valid <= 1'b1;
                                {ld_kind, ld_addr, ld_data} <= load_mem[0];
                                state <= (count > 1) ? S_LOAD : S_LD_END;
                            end else
                                state <= S_ACK;
                        end
                        C_WRITE: begin
                            ld_valid <= 1'b1;
                            {ld_kind, ld_addr, ld_data} <= cmd_word;
                            state <= S_LD_END;
                        end
                        C_STEP: begin
                            n_neurons <= count;
                            n_groups <= (count + LANES - 1) / LANES;
                            send_bits <= cmd_spikes;
                            pos <= 32'd0;
                            res_spikes <= {NEURONS{1'b0}};
                            res_v <= {NEURONS*V_BITS{1'b0}};
                            res_error <= 8'd0;
                            res_error_info <= 32'd0;
                            state <= S_SEND;
                        end
                        C_READ: begin
                            n_groups <= (count + LANES - 1) / LANES;
                            res_v <= {NEURONS*V_BITS{1'b0}};
                            rd_group <= {G_W{1'b0}};
                            idx <= 32'd0;
                            state <= S_READ;
                        end
                        default: begin
                            $display("tb_snn_multicore: unknown command %0d", cmd);
                            $finish;
                        end
                    endcase
                end
                S_LOAD: begin  // word idx of count
                    {ld_kind, ld_addr, ld_data} <= load_mem[idx];
                    idx <= idx + 1;
                    if (idx + 1 == count)
                        state <= S_LD_END;
                end
                S_LD_END: begin
                    ld_valid <= 1'b0;
                    complete = 1'b1;
                    state <= S_IDLE;
                end
                S_SEND: begin
                    // The next axon to send, ascending; the scan resumes where the last one stopped,
                    // so one STEP looks at each axon once.
                    scan = pos;
                    while (scan < AXONS && !send_bits[scan])
                        scan = scan + 1;
                    if (scan < AXONS) begin
                        in_valid <= 1'b1;
                        in_axon <= scan[AX_W-1:0];
                        pos <= scan + 1;
                    end else begin
                        in_valid <= 1'b0;
                        if (!busy) begin  // start is sampled only in IDLE (TB.run_timestep)
                            start <= 1'b1;
                            run_cycles <= 32'd0;
                            next_group <= 32'd0;
                            update_seen <= 1'b0;
                            state <= S_RUN;
                        end
                    end
                end
                S_RUN: begin  // cycle `cyc` (counted from start sampled) ends at this edge
                    start <= 1'b0;
                    cyc = run_cycles + 1;
                    run_cycles <= cyc;
                    if (done) begin
                        if (next_group != n_groups)
                            flag(5, cyc);
                        res_cycles <= cyc;
                        complete = 1'b1;
                        state <= S_IDLE;
                    end else if (out_valid) begin
                        update_seen <= 1'b1;
                        if ({{(32-G_W){1'b0}}, out_group} != next_group)
                            flag(0, cyc);
                        if (next_group >= GROUPS)
                            flag(3, cyc);
                        for (l = 0; l < LANES; l = l + 1)
                            if (out_spikes[l] && {{(32-G_W){1'b0}}, out_group} * LANES + l >= n_neurons)
                                flag(1, cyc);
                        res_spikes[out_group*LANES +: LANES] <= out_spikes;
                        res_v[out_group*LANES*V_BITS +: LANES*V_BITS] <= out_v;
                        next_group <= next_group + 1;
                    end else if (update_seen) begin
                        flag(2, cyc);
                    end else if (cyc >= MAX_CORE_CYCLES) begin
                        flag(4, cyc);
                        complete = 1'b1;
                        state <= S_IDLE;
                    end
                end
                S_READ: begin  // the word of group idx is on rd_v
                    res_v[idx*LANES*V_BITS +: LANES*V_BITS] <= rd_v;
                    rd_group <= (idx + 1 < GROUPS) ? idx[G_W-1:0] + 1'b1 : GROUPS[G_W-1:0] - 1'b1;
                    idx <= idx + 1;
                    if (idx + 1 >= n_groups) begin
                        complete = 1'b1;
                        state <= S_IDLE;
                    end
                end
                S_ACK: begin
                    complete = 1'b1;
                    state <= S_IDLE;
                end
                default: state <= S_IDLE;
            endcase
            if (err != 8'd0)
                res_error <= res_error | err;
            // ack last: nonblocking updates of one process happen in order, so a simulator that runs the
            // cocotb callback on ack's change (Icarus, at once) shows every result register already updated.
            if (complete)
                ack <= ~ack;
        end
    end
    /* verilator lint_on BLKSEQ */

endmodule

`default_nettype wire
