// =============================================================================
// snn_chip_ctrl.v -- timestep sequencer of the chip top level (chip-spec §1.2, §5.1)
// =============================================================================
// IDLE -> BARRIER -> HOST -> { CORES(s) -> ROUTE(s) } for every used stage s -> [EXIT ->] IDLE
//   IDLE     waits for `start`; that cycle is cycle 0 of the timestep.
//   BARRIER  barrier_cycles cycles (a down counter).
//   HOST     the host router injects its packets: route_cycles_host cycles.
//   CORES(s) every core of stage s runs: from their START cycle to the DONE
//            cycle of the slowest one, max core_cycles cycles.
//   ROUTE(s) every router of stage s injects: max route_cycles cycles.
//   EXIT     (only when `exit_on`: an early-exit rule is set, chip-spec §1.4)
//            the exit unit reads the outputs and decides: exit_cycles cycles,
//            ending with the unit's last cycle (`exit_end`).
// A phase of length 0 (barrier_cycles = 0, a sender set without packets, a
// stage number that holds no core) is skipped: the next non-empty phase is
// launched in the last cycle of the current one (or in cycle 0), so that its
// first cycle follows directly. `done` is high in the last cycle of the
// timestep, and `cycles` then counts cycles 1 .. that cycle:
//   barrier_cycles + route_cycles_host + sum_s (max core_cycles + max route_cycles) + exit_cycles.
`default_nettype none

module snn_chip_ctrl #(
    // Stage slots (stages 0 .. N_STG-1; N_CORES of the chip); 1..4096.
    parameter integer N_STG = 4,
    // Stage index width in bits; >= 1 and 2^STG_W >= N_STG.
    parameter integer STG_W = 2,
    // Barrier register width in bits; >= 1.
    parameter integer BAR_W = 11
) (
    input  wire             clk,                // clock, rising edge
    input  wire             rst_n,              // synchronous reset, active low
    // host ------------------------------------------------------------------------------
    input  wire             start,              // run one timestep (sampled in IDLE)
    output wire             busy,               // not IDLE: cycles 1 .. last of a timestep
    output wire             done,               // last cycle of the timestep
    output reg  [31:0]      cycles,             // cycles of the running / last timestep
    output wire [2:0]       phase,              // 0 IDLE, 1 BARRIER, 2 HOST, 3 CORES, 4 ROUTE, 5 EXIT
    output reg  [STG_W-1:0] stage,              // stage of CORES / ROUTE
    // chip registers ------------------------------------------------------------------
    input  wire [BAR_W-1:0] barrier,            // barrier_cycles
    input  wire [N_STG-1:0] stage_used,         // bit s: some used core has stage s
    // host router ----------------------------------------------------------------------
    input  wire             host_has_packets,   // the host input buffer holds a routed spike
    input  wire             host_end,           // the host router is in its last busy cycle
    output wire             host_go,            // latch the host input buffer into the host router
    // cores and routers of `stage` (combined by the chip) --------------------------------
    input  wire             cores_end,          // every core of `stage` is in DONE or idle
    input  wire             route_has_packets,  // some core of `stage` has packets to send
    input  wire             route_end,          // every router of `stage` is in its last busy cycle or idle
    output wire             launch_cores,       // start the cores of launch_stage (sampled by them next edge)
    output wire [STG_W-1:0] launch_stage,       // stage launched by launch_cores
    output wire             launch_route,       // start the routers of `stage`
    // exit unit (chip-spec §1.4) ------------------------------------------------------------
    input  wire             exit_on,            // a rule is set: every timestep ends with the EXIT phase
    input  wire             exit_end,           // the exit unit is in its last (decision) cycle
    output wire             launch_exit         // start the exit unit (sampled by it next edge)
);

    localparam [2:0] S_IDLE    = 3'd0;
    localparam [2:0] S_BARRIER = 3'd1;
    localparam [2:0] S_HOST    = 3'd2;
    localparam [2:0] S_CORES   = 3'd3;
    localparam [2:0] S_ROUTE   = 3'd4;
    localparam [2:0] S_EXIT    = 3'd5;

    localparam [N_STG-1:0] STG_ONES = {N_STG{1'b1}};

    reg [2:0]       state;
    reg [2:0]       nextstate;
    reg [BAR_W-1:0] bar_cnt;

    // ------------------------------------------------ first / next used stage
    wire [31:0]      stage_p1  = {{(32-STG_W){1'b0}}, stage} + 32'd1;
    wire [N_STG-1:0] later     = stage_used & (STG_ONES << stage_p1);   // used stages > stage
    wire             has_first = |stage_used;
    wire             has_next  = |later;
    reg  [STG_W-1:0] first_stage;
    reg  [STG_W-1:0] next_stage;
    integer i;
    always @* begin
        first_stage = {STG_W{1'b0}};
        next_stage  = {STG_W{1'b0}};
        for (i = N_STG - 1; i >= 0; i = i - 1) begin
            if (stage_used[i])
                first_stage = i[STG_W-1:0];
            if (later[i])
                next_stage = i[STG_W-1:0];
        end
    end

    wire       bar_zero = (barrier == {BAR_W{1'b0}});
    wire [2:0] s_final  = exit_on ? S_EXIT : S_IDLE;     // after the last phase of the network
    wire bar_last = (bar_cnt == {{(BAR_W-1){1'b0}}, 1'b1});

    // next-state logic
    always @* begin
        nextstate = state;
        case (state)
            S_IDLE:
                if (start)
                    nextstate = !bar_zero ? S_BARRIER : host_has_packets ? S_HOST
                              : has_first ? S_CORES : s_final;
            S_BARRIER:
                if (bar_last)
                    nextstate = host_has_packets ? S_HOST : has_first ? S_CORES : s_final;
            S_HOST:
                if (host_end)
                    nextstate = has_first ? S_CORES : s_final;
            S_CORES:
                if (cores_end)
                    nextstate = route_has_packets ? S_ROUTE : has_next ? S_CORES : s_final;
            S_ROUTE:
                if (route_end)
                    nextstate = has_next ? S_CORES : s_final;
            S_EXIT:
                if (exit_end)
                    nextstate = S_IDLE;
            default:
                nextstate = S_IDLE;
        endcase
    end

    always @(posedge clk) begin
        if (!rst_n)
            state <= S_IDLE;
        else
            state <= nextstate;
    end

    // Launches happen in the last cycle of the phase before (or in cycle 0).
    assign launch_cores = (nextstate == S_CORES) && !((state == S_CORES) && !cores_end);
    assign launch_stage = (state == S_CORES || state == S_ROUTE) ? next_stage : first_stage;
    assign launch_route = (state == S_CORES) && cores_end && route_has_packets;
    assign launch_exit  = (nextstate == S_EXIT) && (state != S_EXIT);
    assign host_go      = ((state == S_IDLE) && start && bar_zero) || ((state == S_BARRIER) && bar_last);
    assign busy         = (state != S_IDLE);
    assign done         = busy && (nextstate == S_IDLE);
    assign phase        = state;

    always @(posedge clk) begin
        if (!rst_n) begin
            bar_cnt <= {BAR_W{1'b0}};
            stage   <= {STG_W{1'b0}};
            cycles  <= 32'd0;
        end else begin
            if (state == S_IDLE && start) begin
                bar_cnt <= barrier;
                cycles  <= 32'd0;
            end else begin
                if (state == S_BARRIER)
                    bar_cnt <= bar_cnt - 1'b1;
                if (busy)
                    cycles <= cycles + 32'd1;
            end
            if (launch_cores)
                stage <= launch_stage;
        end
    end

    wire _unused = &{1'b0, stage_p1};

endmodule

`default_nettype wire
