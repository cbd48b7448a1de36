// =============================================================================
// snn_ctrl.v -- controller FSM of the digital core (chip-spec §2.4, §5)
// =============================================================================
// IDLE -> START -> [MERGE ->] INTEGRATE -> UPDATE -> DONE -> IDLE
//   IDLE       waits for `start`.
//   START      1 cycle: latch the input-spike bitmap (`latch`); clear the
//              membranes in discontinuous mode (done by the core from `latch`).
//   MERGE      only with PARTIAL_SUMS = 1 and `merge` (a partial-sum receiver,
//              chip-spec §1.3): G cycles, group `upd_group` per cycle
//              (`mrg_en`), each lane adds its partial-sum word to its membrane.
//              The UPDATE group counter serves both: it wraps to 0 after MERGE.
//   INTEGRATE  n_spk*G issue cycles + 1 drain cycle, skipped when no axon
//              spiked. Each issue cycle reads the SRAM word (lowest pending
//              axon, group `issue_group`); the word read in the previous cycle
//              is accumulated into group `acc_group` (`acc_en`). The drain
//              cycle only accumulates.
//   UPDATE     G cycles, group `upd_group` per cycle (`upd_en`).
//   DONE       1 cycle, `done` high.
// Core cycles = 1 + (G if merging) + (n_spk*G + (n_spk > 0)) + G + 1, counted
// from the cycle after `start` is sampled (the START cycle) through the DONE
// cycle. With PARTIAL_SUMS = 0 the MERGE state is unreachable and `mrg_en` is
// the constant 0: the controller is the one without partial sums.
`default_nettype none

module snn_ctrl #(
    // Lane-group index width in bits; 2^G_W >= NEURONS / LANES.
    parameter integer G_W = 4,
    // 1: partial sums (chip-spec §1.3), the MERGE state exists; 0: it does not.
    parameter integer PARTIAL_SUMS = 0
) (
    input  wire           clk,                  // clock, rising edge
    input  wire           rst_n,                // synchronous reset, active low
    // host ---------------------------------------------------------------------
    input  wire           start,                // run one timestep (sampled in IDLE)
    output wire           busy,                 // not IDLE
    output wire           done,                 // DONE cycle
    output wire           idle,                 // IDLE (load interface open)
    // core registers -------------------------------------------------------------
    input  wire [G_W-1:0] last_group,           // G - 1
    input  wire           merge,                // partial-sum receiver: run MERGE (PARTIAL_SUMS = 1 only)
    // spike scan -----------------------------------------------------------------
    input  wire           in_any,               // input buffer holds a spike
    input  wire           work_any,             // an axon is pending
    output wire           latch,                // START: latch the input bitmap
    output wire           pop,                  // retire the pending axon
    // weight SRAM ----------------------------------------------------------------
    output wire           issue,                // read SRAM word (work_idx, issue_group)
    output reg  [G_W-1:0] issue_group,          // group of the word read this cycle
    // datapath ---------------------------------------------------------------------
    output reg            acc_en,               // accumulate the SRAM word into acc_group
    output reg  [G_W-1:0] acc_group,            // group of the word on the SRAM output
    output wire           upd_en,               // UPDATE one group
    output reg  [G_W-1:0] upd_group,            // the group being merged or updated
    output wire           mrg_en                // MERGE group upd_group (0 when PARTIAL_SUMS = 0)
);

    localparam [2:0] S_IDLE      = 3'd0;
    localparam [2:0] S_START     = 3'd1;
    localparam [2:0] S_INTEGRATE = 3'd2;
    localparam [2:0] S_UPDATE    = 3'd3;
    localparam [2:0] S_DONE      = 3'd4;
    localparam [2:0] S_MERGE     = 3'd5;

    wire merge_on = (PARTIAL_SUMS != 0) && merge;   // constant 0 without partial sums

    reg [2:0] state;
    reg [2:0] nextstate;

    // next-state logic
    always @* begin
        nextstate = state;
        case (state)
            S_IDLE:      if (start) nextstate = S_START;
            S_START:     nextstate = merge_on ? S_MERGE : in_any ? S_INTEGRATE : S_UPDATE;
            // the input bitmap is latched by now: work_any says whether an axon spiked
            S_MERGE:     if (upd_group == last_group) nextstate = work_any ? S_INTEGRATE : S_UPDATE;
            S_INTEGRATE: if (!work_any) nextstate = S_UPDATE;     // drain cycle
            S_UPDATE:    if (upd_group == last_group) nextstate = S_DONE;
            S_DONE:      nextstate = S_IDLE;
            default:     nextstate = S_IDLE;
        endcase
    end

    always @(posedge clk) begin
        if (!rst_n)
            state <= S_IDLE;
        else
            state <= nextstate;
    end

    assign idle  = (state == S_IDLE);
    assign busy  = !idle;
    assign done  = (state == S_DONE);
    assign latch = (state == S_START);
    assign issue = (state == S_INTEGRATE) && work_any;
    assign pop   = issue && (issue_group == last_group);
    assign upd_en = (state == S_UPDATE);
    assign mrg_en = (PARTIAL_SUMS != 0) && (state == S_MERGE);

    // group counters and the one-stage read pipeline
    always @(posedge clk) begin
        if (!rst_n) begin
            issue_group <= {G_W{1'b0}};
            acc_en      <= 1'b0;
            acc_group   <= {G_W{1'b0}};
            upd_group   <= {G_W{1'b0}};
        end else begin
            acc_en    <= issue;
            acc_group <= issue_group;
            if (issue)
                issue_group <= pop ? {G_W{1'b0}} : issue_group + 1'b1;
            if (upd_en || mrg_en)
                upd_group <= (upd_group == last_group) ? {G_W{1'b0}} : upd_group + 1'b1;
        end
    end

endmodule

`default_nettype wire
