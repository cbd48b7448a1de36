// =============================================================================
// snn_core.v -- digital spike-sparse core (chip-spec §2, §5), top of one core
// =============================================================================
// Binary spikes in (AER), zero-skipping integration over a LANES-wide weight
// SRAM, a neuron-update unit, spikes out one lane group per cycle, and a
// membrane readout port. See docs/rtl.md for the pin table, the load-interface
// bit fields and the cycles of every phase.
//
// Load interface (only in IDLE; writes while busy are dropped):
//   ld_kind 0  weight word: ld_addr = axon * (NEURONS/LANES) + group,
//              ld_data[l*W_BITS +: W_BITS] = w[axon][group*LANES + l]
//   ld_kind 1  bias word:   ld_addr = group, ld_data[l*V_BITS +: V_BITS] = bias
//   ld_kind 2  register:    ld_addr 0 n_neurons (1..NEURONS), 1 threshold,
//              2 leak_shift, 3 modes {fire, reset_zero, continuous} = ld_data[2:0]
//   ld_kind 3  command:     ld_addr 0 clears every membrane (start of an inference)
`default_nettype none

module snn_core #(
    // Axons per core (A, weight SRAM rows); 1..4096.
    parameter integer AXONS = 1024,
    // Neurons per core (N); 1..4096, a multiple of LANES.
    parameter integer NEURONS = 256,
    // Parallel accumulator lanes (P, weights per SRAM word); 1..NEURONS, divides NEURONS.
    parameter integer LANES = 16,
    // Signed weight width in bits; 2..16, < V_BITS.
    parameter integer W_BITS = 8,
    // Signed membrane, bias and threshold width in bits; 4..32, > W_BITS.
    parameter integer V_BITS = 16,
    // AER input ports (spike events accepted per cycle); 1..4097. 1 = one event per cycle.
    parameter integer IN_PORTS = 1
) (
    input  wire                    clk,         // clock, rising edge
    input  wire                    rst_n,       // synchronous reset, active low
    // load interface ---------------------------------------------------------------
    input  wire                    ld_valid,    // write this cycle (IDLE only)
    input  wire [1:0]              ld_kind,     // 0 weight word, 1 bias word, 2 register, 3 command
    input  wire [LDA_W-1:0]        ld_addr,     // word / group / register / command index
    input  wire [LD_W-1:0]         ld_data,     // write data (see header)
    // spike events in (AER) --------------------------------------------------------
    input  wire [IN_PORTS-1:0]     in_valid,    // bit p: a spike for the next timestep arrives on port p
    input  wire [IN_PORTS*AX_W-1:0] in_axon,    // port p's axon index at [p*AX_W +: AX_W], < AXONS
    // control ----------------------------------------------------------------------------
    input  wire                    start,       // run one timestep (sampled in IDLE)
    output wire                    busy,        // START .. DONE
    output wire                    done,        // high in the DONE cycle
    // spikes out, one lane group per UPDATE cycle ----------------------------------
    output wire                    out_valid,   // out_group/out_spikes valid (UPDATE)
    output wire [G_W-1:0]          out_group,   // lane group g: neurons g*LANES ..
    output wire [LANES-1:0]        out_spikes,  // bit l: neuron g*LANES + l fired
    output wire [LANES*V_BITS-1:0] out_v,       // end-of-timestep membranes of the group
    // membrane readout -----------------------------------------------------------------
    input  wire [G_W-1:0]          rd_group,    // lane group to read
    output wire [LANES*V_BITS-1:0] rd_v         // its membranes, lane l at [l*V_BITS +: V_BITS]
);

    // ---------------------------------------------------------------- widths
    localparam integer GROUPS  = NEURONS / LANES;                     // lane groups
    localparam integer AX_W    = (AXONS > 1) ? $clog2(AXONS) : 1;     // axon index
    localparam integer G_W     = (GROUPS > 1) ? $clog2(GROUPS) : 1;   // group index
    localparam integer WADDR_W = (AXONS * GROUPS > 1) ? $clog2(AXONS * GROUPS) : 1;
    localparam integer NN_W    = $clog2(NEURONS + 1);                 // n_neurons register
    localparam integer LS_W    = $clog2(V_BITS);                      // leak_shift register
    localparam integer LD_W    = (LANES * V_BITS > 32) ? LANES * V_BITS : 32;
    localparam integer LDA_W   = (WADDR_W > 2) ? WADDR_W : 2;

    localparam [1:0] LD_WEIGHT = 2'd0;
    localparam [1:0] LD_BIAS   = 2'd1;
    localparam [1:0] LD_REG    = 2'd2;
    localparam [1:0] LD_CMD    = 2'd3;

    // ------------------------------------------------------------- registers
    reg  [NN_W-1:0]   n_neurons;
    reg  [G_W-1:0]    last_group;   // G - 1 = (n_neurons - 1) / LANES
    reg  [V_BITS-1:0] threshold;
    reg  [LS_W-1:0]   leak_shift;
    reg               continuous;
    reg               reset_zero;
    reg               fire;

    wire idle;
    wire ld_ok = ld_valid && idle;
    wire [31:0] ld_word = ld_data[31:0];
    wire [31:0] last_group_32 = (ld_word - 32'd1) / LANES;

    always @(posedge clk) begin
        if (!rst_n) begin
            n_neurons  <= NEURONS[NN_W-1:0];
            last_group <= GROUPS[G_W-1:0] - 1'b1;
            threshold  <= {V_BITS{1'b0}};
            leak_shift <= {LS_W{1'b0}};
            continuous <= 1'b0;
            reset_zero <= 1'b0;
            fire       <= 1'b1;
        end else if (ld_ok && ld_kind == LD_REG) begin
            case (ld_addr[1:0])
                2'd0: begin
                    n_neurons  <= ld_word[NN_W-1:0];
                    last_group <= last_group_32[G_W-1:0];
                end
                2'd1: threshold  <= ld_data[V_BITS-1:0];
                2'd2: leak_shift <= ld_data[LS_W-1:0];
                default: begin
                    continuous <= ld_data[0];
                    reset_zero <= ld_data[1];
                    fire       <= ld_data[2];
                end
            endcase
        end
    end

    // ------------------------------------------------------------ controller
    wire           in_any, work_any, latch, pop, issue, acc_en, upd_en;
    wire [G_W-1:0] issue_group, acc_group, upd_group;
    wire [AX_W-1:0] work_idx;

    snn_ctrl #(.G_W(G_W)) u_ctrl (
        .clk         (clk),
        .rst_n       (rst_n),
        .start       (start),
        .busy        (busy),
        .done        (done),
        .idle        (idle),
        .last_group  (last_group),
        .in_any      (in_any),
        .work_any    (work_any),
        .latch       (latch),
        .pop         (pop),
        .issue       (issue),
        .issue_group (issue_group),
        .acc_en      (acc_en),
        .acc_group   (acc_group),
        .upd_en      (upd_en),
        .upd_group   (upd_group)
    );

    // ------------------------------------------------------ input-spike scan
    snn_spike_scan #(.AXONS(AXONS), .AX_W(AX_W), .IN_PORTS(IN_PORTS)) u_scan (
        .clk      (clk),
        .rst_n    (rst_n),
        .in_valid (in_valid),
        .in_axon  (in_axon),
        .latch    (latch),
        .pop      (pop),
        .in_any   (in_any),
        .work_any (work_any),
        .work_idx (work_idx)
    );

    // ----------------------------------------------------------- weight SRAM
    // Word address = axon * GROUPS + group, formed in 32 bits and truncated.
    wire [31:0] issue_addr_32 = {{(32-AX_W){1'b0}}, work_idx} * GROUPS
                              + {{(32-G_W){1'b0}}, issue_group};
    wire              ld_w  = ld_ok && ld_kind == LD_WEIGHT;
    wire [WADDR_W-1:0] sram_addr = ld_w ? ld_addr[WADDR_W-1:0] : issue_addr_32[WADDR_W-1:0];
    wire [LANES*W_BITS-1:0] sram_rdata;

    snn_weight_sram #(.DEPTH(AXONS * GROUPS), .WIDTH(LANES * W_BITS), .ADDR_W(WADDR_W)) u_sram (
        .clk   (clk),
        .en    (issue || ld_w),
        .we    (ld_w),
        .addr  (sram_addr),
        .wdata (ld_data[LANES*W_BITS-1:0]),
        .rdata (sram_rdata)
    );

    // ------------------------------------------------------------- membranes
    wire [G_W-1:0]          dp_group = upd_en ? upd_group : acc_group;
    wire [LANES*V_BITS-1:0] v_cur, v_acc, v_upd, bias_word;
    wire [LANES-1:0]        lane_en, spikes;
    wire clear_v = (latch && !continuous) || (ld_ok && ld_kind == LD_CMD && ld_addr[1:0] == 2'd0);

    snn_group_rf #(.DEPTH(GROUPS), .WIDTH(LANES * V_BITS), .ADDR_W(G_W)) u_vmem (
        .clk     (clk),
        .clr     (clear_v),
        .we      (acc_en || upd_en),
        .waddr   (dp_group),
        .wdata   (upd_en ? v_upd : v_acc),
        .raddr_a (dp_group),
        .rdata_a (v_cur),
        .raddr_b (rd_group),
        .rdata_b (rd_v)
    );

    /* verilator lint_off PINCONNECTEMPTY */
    snn_group_rf #(.DEPTH(GROUPS), .WIDTH(LANES * V_BITS), .ADDR_W(G_W)) u_bias (
        .clk     (clk),
        .clr     (1'b0),
        .we      (ld_ok && ld_kind == LD_BIAS),
        .waddr   (ld_addr[G_W-1:0]),
        .wdata   (ld_data[LANES*V_BITS-1:0]),
        .raddr_a (upd_group),
        .rdata_a (bias_word),
        .raddr_b ({G_W{1'b0}}),
        .rdata_b ()
    );
    /* verilator lint_on PINCONNECTEMPTY */

    // Lane l of group g is neuron g*LANES + l; lanes >= n_neurons are idle.
    wire [31:0] group_base_32 = {{(32-G_W){1'b0}}, dp_group} * LANES;
    wire [31:0] n_neurons_32  = {{(32-NN_W){1'b0}}, n_neurons};
    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_lane_en
            assign lane_en[l] = (group_base_32 + l) < n_neurons_32;
        end
    endgenerate

    // Operand isolation: each unit sees the membranes only in its own phase, so
    // the other one's inputs (and an event-driven simulator) stay quiet.
    // A sized zero, not {LANES*V_BITS{1'b0}}: wide lane words exceed Verilator's replication limit.
    localparam [LANES*V_BITS-1:0] ZERO_WORD = 0;
    wire [LANES*V_BITS-1:0] v_to_acc = acc_en ? v_cur : ZERO_WORD;
    wire [LANES*V_BITS-1:0] v_to_upd = upd_en ? v_cur : ZERO_WORD;

    snn_lane_acc #(.LANES(LANES), .W_BITS(W_BITS), .V_BITS(V_BITS)) u_acc (
        .v_in    (v_to_acc),
        .w_in    (sram_rdata),
        .lane_en (lane_en),
        .v_out   (v_acc)
    );

    snn_neuron_update #(.LANES(LANES), .V_BITS(V_BITS), .LS_W(LS_W)) u_upd (
        .v_in       (v_to_upd),
        .bias       (bias_word),
        .lane_en    (lane_en),
        .threshold  (threshold),
        .leak_shift (leak_shift),
        .fire       (fire),
        .reset_zero (reset_zero),
        .v_out      (v_upd),
        .spikes     (spikes)
    );

    // ------------------------------------------------------------ spikes out
    assign out_valid  = upd_en;
    assign out_group  = upd_group;
    assign out_spikes = upd_en ? spikes : {LANES{1'b0}};
    assign out_v      = upd_en ? v_upd : ZERO_WORD;

    // Bits that are deliberately not used by every configuration.
    wire _unused = &{1'b0, ld_data, ld_addr, issue_addr_32, last_group_32};

endmodule

`default_nettype wire
