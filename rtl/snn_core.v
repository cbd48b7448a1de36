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
//              2 leak_shift, 3 modes {fire, reset_zero, continuous} = ld_data[2:0],
//              ld_data[3] psum_rx (PARTIAL_SUMS = 1 only: a partial-sum receiver)
//   ld_kind 3  command:     ld_addr 0 clears every membrane (start of an inference)
//
// Partial sums (chip-spec §1.3; only with PARTIAL_SUMS = 1, generate blocks, so
// that with PARTIAL_SUMS = 0 the core is the one without them): a partial-sum
// buffer (snn_psum_buf) written through the ps_* ports, the psum_rx register
// and a MERGE phase between START and INTEGRATE that adds the buffer into the
// membranes, saturating (a second snn_lane_acc, V_BITS-wide operands). While
// the core is idle, `ps_rd_group` reads a group of membranes on `ps_rd_v` for
// the router of a partial-sum core. With PARTIAL_SUMS = 0 the ps_* inputs are
// ignored and `ps_rd_v` is 0.
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
    // Also the number of partial-sum input ports.
    parameter integer IN_PORTS = 1,
    // 1: partial-sum buffer and MERGE phase (chip-spec §1.3); 0: none (ps_* ports unused).
    parameter integer PARTIAL_SUMS = 0
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
    // partial-sum packets in (PARTIAL_SUMS = 1) ------------------------------------------
    input  wire [IN_PORTS-1:0]     ps_valid,    // bit p: a partial-sum packet arrives on port p
    input  wire [IN_PORTS*N_W-1:0] ps_neuron,   // port p's neuron index at [p*N_W +: N_W], < n_neurons
    input  wire [IN_PORTS*V_BITS-1:0] ps_value, // port p's value at [p*V_BITS +: V_BITS]
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
    output wire [LANES*V_BITS-1:0] rd_v,        // its membranes, lane l at [l*V_BITS +: V_BITS]
    // membranes for the router of a partial-sum core (PARTIAL_SUMS = 1, core idle) -----
    input  wire [G_W-1:0]          ps_rd_group, // lane group to read
    output wire [LANES*V_BITS-1:0] ps_rd_v      // its membranes (combinational; 0 when PARTIAL_SUMS = 0)
);

    // ---------------------------------------------------------------- widths
    localparam integer GROUPS  = NEURONS / LANES;                     // lane groups
    localparam integer AX_W    = (AXONS > 1) ? $clog2(AXONS) : 1;     // axon index
    localparam integer G_W     = (GROUPS > 1) ? $clog2(GROUPS) : 1;   // group index
    localparam integer N_W     = (NEURONS > 1) ? $clog2(NEURONS) : 1; // neuron index
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
    wire           in_any, work_any, latch, pop, issue, acc_en, upd_en, mrg_en;
    wire           psum_rx;     // partial-sum receiver register (0 when PARTIAL_SUMS = 0)
    wire [G_W-1:0] issue_group, acc_group, upd_group;
    wire [AX_W-1:0] work_idx;

    snn_ctrl #(.G_W(G_W), .PARTIAL_SUMS(PARTIAL_SUMS)) u_ctrl (
        .clk         (clk),
        .rst_n       (rst_n),
        .start       (start),
        .busy        (busy),
        .done        (done),
        .idle        (idle),
        .last_group  (last_group),
        .merge       (psum_rx),
        .in_any      (in_any),
        .work_any    (work_any),
        .latch       (latch),
        .pop         (pop),
        .issue       (issue),
        .issue_group (issue_group),
        .acc_en      (acc_en),
        .acc_group   (acc_group),
        .upd_en      (upd_en),
        .upd_group   (upd_group),
        .mrg_en      (mrg_en)
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
    // MERGE and UPDATE share the group counter upd_group (mrg_en is 0 without partial sums).
    wire [G_W-1:0]          dp_group = (upd_en || mrg_en) ? upd_group : acc_group;
    wire [G_W-1:0]          rf_raddr_a;         // dp_group; the router's group while idle (partial sums)
    wire [LANES*V_BITS-1:0] v_cur, v_acc, v_upd, v_acc_mrg, bias_word;
    wire [LANES-1:0]        lane_en, spikes;
    wire clear_v = (latch && !continuous) || (ld_ok && ld_kind == LD_CMD && ld_addr[1:0] == 2'd0);

    snn_group_rf #(.DEPTH(GROUPS), .WIDTH(LANES * V_BITS), .ADDR_W(G_W)) u_vmem (
        .clk     (clk),
        .clr     (clear_v),
        .we      (acc_en || upd_en || mrg_en),
        .waddr   (dp_group),
        .wdata   (upd_en ? v_upd : v_acc_mrg),
        .raddr_a (rf_raddr_a),
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

    // --------------------------------------------------- partial sums (chip-spec §1.3)
    generate
        if (PARTIAL_SUMS != 0) begin : g_psum
            reg rx;
            always @(posedge clk) begin
                if (!rst_n)
                    rx <= 1'b0;
                else if (ld_ok && ld_kind == LD_REG && ld_addr[1:0] == 2'd3)
                    rx <= ld_data[3];
            end
            assign psum_rx = rx;

            wire [LANES*V_BITS-1:0] psum_word, v_mrg;
            snn_psum_buf #(
                .NEURONS(NEURONS), .LANES(LANES), .V_BITS(V_BITS), .N_W(N_W), .G_W(G_W), .PORTS(IN_PORTS)
            ) u_psum (
                .clk       (clk),
                .rst_n     (rst_n),
                .wr_valid  (ps_valid),
                .wr_neuron (ps_neuron),
                .wr_value  (ps_value),
                .rd_group  (upd_group),
                .rd_clr    (mrg_en),              // merged words are cleared (chip-spec §2.2 step 5)
                .rd_word   (psum_word)
            );

            // v = sat_V(v + psum): the lane adder of INTEGRATE with V_BITS-wide addends.
            snn_lane_acc #(.LANES(LANES), .W_BITS(V_BITS), .V_BITS(V_BITS)) u_merge (
                .v_in    (mrg_en ? v_cur : ZERO_WORD),
                .w_in    (psum_word),
                .lane_en (lane_en),
                .v_out   (v_mrg)
            );
            assign v_acc_mrg  = mrg_en ? v_mrg : v_acc;
            assign rf_raddr_a = idle ? ps_rd_group : dp_group;
            assign ps_rd_v    = v_cur;
        end else begin : g_no_psum
            assign psum_rx    = 1'b0;
            assign v_acc_mrg  = v_acc;
            assign rf_raddr_a = dp_group;
            assign ps_rd_v    = ZERO_WORD;
            wire _unused_ps = &{1'b0, ps_valid, ps_neuron, ps_value, ps_rd_group};
        end
    endgenerate

    // ------------------------------------------------------------ spikes out
    assign out_valid  = upd_en;
    assign out_group  = upd_group;
    assign out_spikes = upd_en ? spikes : {LANES{1'b0}};
    assign out_v      = upd_en ? v_upd : ZERO_WORD;

    // Bits that are deliberately not used by every configuration.
    wire _unused = &{1'b0, ld_data, ld_addr, issue_addr_32, last_group_32};

endmodule

`default_nettype wire
