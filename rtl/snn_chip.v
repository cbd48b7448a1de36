// =============================================================================
// snn_chip.v -- whole chip: mesh of cores, routers, host port, timestep sequencer
// =============================================================================
// Runs a mapped network in hardware, one timestep per `start` pulse
// (chip-spec §1, §5.1): MESH_ROWS x MESH_COLS snn_core instances, one
// snn_router per core, the host port (snn_host_port: input buffer and host
// router, attached at core 0), and the snn_chip_ctrl sequencer
//   BARRIER -> HOST -> CORES(s) -> ROUTE(s) for every used stage s -> [EXIT ->] done,
// so that the cycles from `start` to `done` are chip-spec §1.2's
//   barrier_cycles + route_cycles_host + sum_s (max core_cycles + max route_cycles) + exit_cycles.
// Packets are written into the destination core's input-spike buffer in the
// cycle they are injected; every sender has its own AER port on every core
// (snn_core IN_PORTS = N_CORES + 1), so any number of senders may hit one
// core in the same cycle. See docs/rtl.md ("Chip top level") for the pins,
// the load map and the cycles of every phase.
//
// Load interface (only while the chip is idle; core_sel picks the core):
//   ld_kind 0..3  the selected core's load interface (snn_core, ld_kind[1:0])
//   ld_kind 4     route entry of the selected core: ld_addr = entry*4 + field,
//                 field 0 dest_core, 1 src_lo, 2 src_hi, 3 axon_offset
//   ld_kind 5     register of the selected core: ld_addr 0 used (bit 0),
//                 1 stage, 2 n_routes, 3 psum_out (bit 0; PARTIAL_SUMS = 1 only)
//   ld_kind 6     host route entry: ld_addr = entry*4 + field (as kind 4)
//   ld_kind 7     chip register: ld_addr 0 host n_routes, 1 hop_latency_cycles,
//                 2 barrier_cycles; early exit (chip-spec §1.4): 3 exit control
//                 (bits 1:0 rule: 0 none, 1 margin, 2 confidence, 3 entropy; bit 2
//                 spike-count readout; bits 31:16 K), 4 threshold (M, z_limit or
//                 theta), 5 gain_t (before every timestep), 6 output map entry
//                 (output ld_data[31:16] is neuron ld_data[15:0] of core core_sel),
//                 7 command: clear the exit accumulators (start of an image)
//
// Early exit (chip-spec §1.4, §5.1): with a rule set, every timestep ends with
// an EXIT phase after the last ROUTE phase, `done` in its last cycle with the
// decision on `exit`. The exit unit (snn_exit_unit) reads output o through the
// output map: the lane of its neuron on the core's membrane read port (rd_group
// is taken over while the unit runs; every core is idle then) or its bit of the
// core's spike bitmap of this timestep. With rule none (after reset) the chip
// is the one without the unit, cycle for cycle.
//
// Partial sums (chip-spec §1.3, §5.1; PARTIAL_SUMS = 1, generate blocks: with
// PARTIAL_SUMS = 0 the chip is the one without them): every core has a
// partial-sum buffer and its own partial-sum input port per core sender; a
// core whose psum_out register is set captures in UPDATE which of its
// membranes are nonzero (instead of its spikes, which are 0: fire = 0), and
// its router sends those neurons, each packet carrying the neuron's membrane
// (read from the idle core) as value and the destination neuron as index; it
// is written into the destination's partial-sum buffer word in the cycle it
// is injected. The receivers' MERGE bit is the core register (snn_core).
//
// Mesh network-on-chip (chip-spec §1.5, §5.1 "Mesh routers"; NOC_MESH = 1,
// generate blocks: with NOC_MESH = 0 the chip is the contention-free one
// above): a grid of snn_mesh_router (snn_mesh) replaces the direct delivery.
// Every sender's snn_router becomes the network interface of its mesh router's
// local input (the host port's feeds router 0 in the HOST phase) and offers one
// packet at a time, moving on when the router grants it. A packet is a flit
// {kind (1: partial sum), index (axon or neuron), value}; it is written into
// its destination core in the cycle it leaves that router's local output, so
// every core has a single AER (and partial-sum) port. The HOST and ROUTE(s)
// phases end in the cycle after which no interface and no router buffer holds
// a packet (the last delivery); rd_route_cycles is then the cycle in which the
// sender's last packet left its interface, host_route_cycles the HOST phase
// length. NoC counters of the last timestep: noc_route_cycles (both models),
// noc_buffer_writes, noc_stall_cycles, and per output port of the selected
// core's router rd_link_packets / rd_link_stalls; noc_dlv_* shows every
// delivery (a debug strobe for the testbench's arrival order).
`default_nettype none

module snn_chip #(
    // Mesh rows; 1..64.
    parameter integer MESH_ROWS = 2,
    // Mesh columns; 1..64. Core c sits at row c / MESH_COLS, column c % MESH_COLS.
    parameter integer MESH_COLS = 2,
    // Axons per core (A); 1..4096.
    parameter integer AXONS = 1024,
    // Neurons per core (N); 1..4096, a multiple of LANES.
    parameter integer NEURONS = 256,
    // Parallel accumulator lanes (P); 1..NEURONS, divides NEURONS.
    parameter integer LANES = 16,
    // Signed weight width in bits; 2..16, < V_BITS.
    parameter integer W_BITS = 8,
    // Signed membrane, bias and threshold width in bits; 4..32, > W_BITS.
    parameter integer V_BITS = 16,
    // Routing-table entries per sender (cores and host); 1..4096. Default: one per core.
    parameter integer ROUTES = MESH_ROWS * MESH_COLS,
    // 1: partial sums (chip-spec §1.3, core.partial_sums); 0: none.
    parameter integer PARTIAL_SUMS = 0,
    // Host input buffer bits (network inputs, n_inputs <= HOST_INPUTS); 1..4096. Default: AXONS, or
    // with partial sums (a first layer's fan-in may span a chain of cores) every axon of the mesh, at
    // most 4096 (each routed input needs an axon of its own somewhere).
    parameter integer HOST_INPUTS = (PARTIAL_SUMS == 0) ? AXONS
                                  : (AXONS * MESH_ROWS * MESH_COLS > 4096) ? 4096 : AXONS * MESH_ROWS * MESH_COLS,
    // Outputs the exit unit serves (accumulators and output-map entries, chip-spec §1.4); 2..65535.
    parameter integer MAX_OUTPUTS = 64,
    // 1: mesh network-on-chip (chip-spec §1.5, noc = "mesh"); 0: contention-free (noc = "ideal", §1.2).
    parameter integer NOC_MESH = 0,
    // Entries of every mesh router input buffer (router_buffer_flits, NOC_MESH = 1 only); 1..64.
    parameter integer BUFFER_FLITS = 4
) (
    input  wire                    clk,               // clock, rising edge
    input  wire                    rst_n,             // synchronous reset, active low
    input  wire [CS_W-1:0]         core_sel,          // core addressed by load and readout
    // load interface -----------------------------------------------------------------------
    input  wire                    ld_valid,          // write this cycle (chip idle only)
    input  wire [2:0]              ld_kind,           // 0..3 core, 4 route, 5 core reg, 6 host route, 7 chip reg
    input  wire [CLDA_W-1:0]       ld_addr,           // word / entry*4+field / register index
    input  wire [LD_W-1:0]         ld_data,           // write data
    // host input spikes (AER) --------------------------------------------------------------
    input  wire                    in_valid,          // a network input spikes (for the next timestep)
    input  wire [HI_W-1:0]         in_index,          // its input index, < HOST_INPUTS
    // control --------------------------------------------------------------------------------
    input  wire                    start,             // run one timestep (sampled while idle)
    output wire                    busy,              // cycles 1 .. last of a timestep
    output wire                    done,              // last cycle of the timestep
    output wire [31:0]             ts_cycles,         // cycles of the last timestep (valid after done)
    output wire [2:0]              phase,             // 0 idle, 1 barrier, 2 host route, 3 cores, 4 route, 5 exit
    output wire [STG_W-1:0]        phase_stage,       // stage of phases 3 and 4
    output wire [31:0]             host_packets,      // host packets of the last timestep
    output wire [31:0]             host_route_cycles, // host router busy cycles (mesh: HOST phase length), last timestep
    // spikes out of the selected core (as snn_core) --------------------------------------
    output wire                    out_valid,         // out_group/out_spikes/out_v valid (UPDATE)
    output wire [G_W-1:0]          out_group,         // lane group
    output wire [LANES-1:0]        out_spikes,        // bit l: neuron out_group*LANES + l fired
    output wire [LANES*V_BITS-1:0] out_v,             // end-of-timestep membranes of the group
    // readout of the selected core (combinational) ---------------------------------------
    input  wire [G_W-1:0]          rd_group,          // lane group to read
    output wire [LANES*V_BITS-1:0] rd_v,              // its membranes, lane l at [l*V_BITS +: V_BITS]
    output wire [LANES-1:0]        rd_spikes,         // its spikes of the last timestep
    output wire [31:0]             rd_core_cycles,    // core busy cycles of the last timestep
    output wire [31:0]             rd_route_cycles,   // router busy cycles (mesh: its last injection cycle), last timestep
    output wire [31:0]             rd_packets,        // packets sent in the last timestep
    // early exit (chip-spec §1.4) -----------------------------------------------------------
    output wire                    exit,              // the image is done: valid with done, held until the next EXIT
    output wire [IX_W-1:0]         exit_top,          // argmax of the accumulators, lowest on ties (the prediction)
    input  wire [IX_W-1:0]         exit_acc_index,    // accumulator to read
    output wire [ACC_W-1:0]        exit_acc,          // its value (signed, combinational)
    output wire [31:0]             exit_cycles,       // exit unit counters of the last timestep: busy cycles,
    output wire [31:0]             exit_acc_updates,  //   accumulator adds,
    output wire [31:0]             exit_multiplies,   //   multiplies,
    output wire [31:0]             exit_lut_reads,    //   table reads
    // network-on-chip counters of the last timestep (chip-spec §1.5) ---------------------------
    output reg  [31:0]             noc_route_cycles,  // cycles of the HOST and ROUTE phases
    output wire [31:0]             noc_buffer_writes, // packets written into router input buffers (mesh)
    output wire [31:0]             noc_stall_cycles,  // stall cycles of all router outputs (mesh)
    output wire [5*32-1:0]         rd_link_packets,   // selected core's router, output d at [d*32]: packets (mesh)
    output wire [5*32-1:0]         rd_link_stalls,    // selected core's router, output d at [d*32]: stalls (mesh)
    output wire [N_CORES-1:0]      noc_dlv_valid,     // bit c: a packet is delivered into core c (mesh, debug)
    output wire [N_CORES*DI_W-1:0] noc_dlv_index      // its axon (partial sum: neuron) at [c*DI_W] (mesh, debug)
);

    // ---------------------------------------------------------------- widths
    localparam integer N_CORES  = MESH_ROWS * MESH_COLS;
    localparam integer NS       = N_CORES + 1;                           // senders: cores, then host
    localparam integer GROUPS   = NEURONS / LANES;
    localparam integer CS_W     = (N_CORES > 1) ? $clog2(N_CORES) : 1;
    localparam integer STG_W    = CS_W;                                  // stages 0 .. N_CORES-1
    localparam integer AX_W     = (AXONS > 1) ? $clog2(AXONS) : 1;
    localparam integer N_W      = (NEURONS > 1) ? $clog2(NEURONS) : 1;   // neuron index (partial sums)
    // Destination index of a core's router: an axon, or with partial sums also a neuron.
    localparam integer DI_W     = (PARTIAL_SUMS != 0 && N_W > AX_W) ? N_W : AX_W;
    localparam integer G_W      = (GROUPS > 1) ? $clog2(GROUPS) : 1;
    localparam integer WADDR_W  = (AXONS * GROUPS > 1) ? $clog2(AXONS * GROUPS) : 1;
    localparam integer LD_W     = (LANES * V_BITS > 32) ? LANES * V_BITS : 32;
    localparam integer LDA_W    = (WADDR_W > 2) ? WADDR_W : 2;           // core load address
    localparam integer RA_W     = (ROUTES > 1) ? $clog2(ROUTES) : 1;
    localparam integer CLDA_W   = (LDA_W > RA_W + 2) ? LDA_W : RA_W + 2;
    localparam integer HI_W     = (HOST_INPUTS > 1) ? $clog2(HOST_INPUTS) : 1;
    localparam integer HOP_W    = (MESH_ROWS + MESH_COLS > 2) ? $clog2(MESH_ROWS + MESH_COLS - 1) : 1;
    localparam integer HL_W     = 7;                                     // hop_latency_cycles 0..64
    localparam integer BAR_W    = 11;                                    // barrier_cycles 0..1024
    localparam integer OUT_W    = 1 + G_W + LANES + 2 * LANES * V_BITS + LANES + 3 * 32;
    localparam integer ACC_W    = V_BITS + 13;                           // exit accumulators
    localparam integer IX_W     = (MAX_OUTPUTS > 1) ? $clog2(MAX_OUTPUTS) : 1;  // output index
    localparam integer KW       = $clog2(MAX_OUTPUTS + 1);               // K
    localparam integer CORE_IN  = (NOC_MESH != 0) ? 1 : NS;              // AER ports per core
    localparam integer PAY_W    = 1 + DI_W + V_BITS;                     // mesh packet: kind, index, value

    localparam [2:0] K_ROUTE  = 3'd4;
    localparam [2:0] K_CREG   = 3'd5;
    localparam [2:0] K_HROUTE = 3'd6;
    localparam [2:0] K_CHIP   = 3'd7;

    localparam [NEURONS-1:0]     SPK_ZERO  = 0;

    // ------------------------------------------------------------ load decode
    wire             ld_ok    = ld_valid && !busy;
    wire             ld_core  = ld_ok && !ld_kind[2];
    wire             ld_route = ld_ok && (ld_kind == K_ROUTE);
    wire             ld_creg  = ld_ok && (ld_kind == K_CREG);
    wire             ld_hrt   = ld_ok && (ld_kind == K_HROUTE);
    wire             ld_chip  = ld_ok && (ld_kind == K_CHIP);
    wire [31:0]      ld_a32   = {{(32-CLDA_W){1'b0}}, ld_addr};
    wire [31:0]      ld_word  = ld_data[31:0];
    wire [RA_W-1:0]  ld_entry = ld_addr[RA_W+1:2];
    wire [1:0]       ld_field = ld_addr[1:0];

    // Hop count of a route entry being written: sender core_sel (host: core 0) to dest_core.
    wire [31:0] snd_32  = (ld_kind == K_HROUTE) ? 32'd0 : {{(32-CS_W){1'b0}}, core_sel};
    wire [31:0] dst_32  = {{(32-CS_W){1'b0}}, ld_data[CS_W-1:0]};
    wire [31:0] snd_row = snd_32 / MESH_COLS;
    wire [31:0] snd_col = snd_32 % MESH_COLS;
    wire [31:0] dst_row = dst_32 / MESH_COLS;
    wire [31:0] dst_col = dst_32 % MESH_COLS;
    wire [31:0] d_row   = (snd_row > dst_row) ? snd_row - dst_row : dst_row - snd_row;
    wire [31:0] d_col   = (snd_col > dst_col) ? snd_col - dst_col : dst_col - snd_col;
    wire [31:0] hops_32 = d_row + d_col;
    wire [HOP_W-1:0] ld_hops = hops_32[HOP_W-1:0];

    // ---------------------------------------------------------- chip registers
    reg [HL_W-1:0]  hop_latency;
    reg [BAR_W-1:0] barrier;
    reg [1:0]       ex_rule;                           // early exit: 0 none (the reset value)
    always @(posedge clk) begin
        if (!rst_n) begin
            hop_latency <= {HL_W{1'b0}};
            barrier     <= {BAR_W{1'b0}};
            ex_rule     <= 2'd0;
        end else if (ld_chip) begin
            if (ld_a32 == 32'd1) hop_latency <= ld_word[HL_W-1:0];
            if (ld_a32 == 32'd2) barrier     <= ld_word[BAR_W-1:0];
            if (ld_a32 == 32'd3) ex_rule     <= ld_word[1:0];
        end
    end
    // The other exit registers matter only under a rule, which the host sets with them (no reset).
    reg             ex_spikes;                         // 1: y is the output's spike, 0: its membrane
    reg [KW-1:0]    ex_k;                              // K
    reg [31:0]      ex_threshold, ex_gain;
    always @(posedge clk) begin
        if (ld_chip && ld_a32 == 32'd3) begin
            ex_spikes <= ld_word[2];
            ex_k      <= ld_word[16 +: KW];
        end
        if (ld_chip && ld_a32 == 32'd4) ex_threshold <= ld_word;
        if (ld_chip && ld_a32 == 32'd5) ex_gain      <= ld_word;
    end

    // Output map of the exit unit: output o is neuron omap_neuron[o] of core omap_core[o].
    reg  [CS_W-1:0] omap_core   [0:MAX_OUTPUTS-1];
    reg  [N_W-1:0]  omap_neuron [0:MAX_OUTPUTS-1];
    wire [31:0]     omap_o32 = {16'd0, ld_word[31:16]};
    always @(posedge clk) begin
        if (ld_chip && ld_a32 == 32'd6 && omap_o32 < MAX_OUTPUTS) begin
            omap_core[omap_o32[IX_W-1:0]]   <= core_sel;
            omap_neuron[omap_o32[IX_W-1:0]] <= ld_word[N_W-1:0];
        end
    end

    // -------------------------------------------------------------- sequencer
    wire             host_has_packets, host_last, host_go, host_end, host_busy;
    wire             mesh_last;                        // mesh: the last delivery of the routing phase
    wire             cores_end, route_has_packets, route_end;
    wire             launch_cores, launch_route, launch_exit;
    wire             ex_busy, ex_last;
    wire [STG_W-1:0] cur_stage, launch_stage;
    reg  [N_CORES-1:0] stage_used;
    wire [N_CORES-1:0] cores_ok, rt_ok, rt_pk;
    wire             clr = start && !busy;             // a timestep starts: clear the counters

    snn_chip_ctrl #(.N_STG(N_CORES), .STG_W(STG_W), .BAR_W(BAR_W)) u_ctrl (
        .clk               (clk),
        .rst_n             (rst_n),
        .start             (start),
        .busy              (busy),
        .done              (done),
        .cycles            (ts_cycles),
        .phase             (phase),
        .stage             (cur_stage),
        .barrier           (barrier),
        .stage_used        (stage_used),
        .host_has_packets  (host_has_packets),
        .host_end          (host_end),
        .host_go           (host_go),
        .cores_end         (cores_end),
        .route_has_packets (route_has_packets),
        .route_end         (route_end),
        .launch_cores      (launch_cores),
        .launch_stage      (launch_stage),
        .launch_route      (launch_route),
        .exit_on           (ex_rule != 2'd0),
        .exit_end          (ex_last),
        .launch_exit       (launch_exit)
    );
    assign phase_stage       = cur_stage;
    assign host_end          = (NOC_MESH != 0) ? mesh_last : host_last;
    assign cores_end         = &cores_ok;
    assign route_end         = (NOC_MESH != 0) ? mesh_last : &rt_ok;
    assign route_has_packets = |rt_pk;

    // ------------------------------------------------------------------ NoC
    // Sender p (core p, host = N_CORES) drives port p of every core's AER input.
    wire [NS-1:0]      pkt_valid;
    wire [NS*CS_W-1:0] pkt_dest;
    wire [NS*AX_W-1:0] pkt_axon;
    // Partial-sum packets of sender p (pkt_dest is shared; the host never sends any, chip-spec §6).
    wire [NS-1:0]        ps_valid;
    wire [NS*N_W-1:0]    ps_neuron;
    wire [NS*V_BITS-1:0] ps_value;
    assign ps_valid[N_CORES]              = 1'b0;
    assign ps_neuron[N_CORES*N_W +: N_W]  = {N_W{1'b0}};
    assign ps_value[N_CORES*V_BITS +: V_BITS] = {V_BITS{1'b0}};
    // Mesh (NOC_MESH = 1): what each sender offers its router, the grants, the deliveries into the cores.
    wire [NS*PAY_W-1:0]      snd_pay;                   // sender p's packet {kind, index, value}
    wire [NS-1:0]            snd_ready;                 // sender p's offered packet leaves this cycle
    wire [N_CORES-1:0]       ni_remain;                 // core c's interface holds a packet after this cycle
    wire [N_CORES-1:0]       dlv_valid;                 // a packet is delivered into core c
    wire [N_CORES*PAY_W-1:0] dlv_pay;                   // its {kind, index, value}
    wire [31:0] host_axon_32 = {{(32-AX_W){1'b0}}, pkt_axon[N_CORES*AX_W +: AX_W]};
    assign snd_pay[N_CORES*PAY_W +: PAY_W] = {1'b0, host_axon_32[DI_W-1:0], {V_BITS{1'b0}}};

    // ------------------------------------------------------------- host port
    snn_host_port #(
        .HOST_INPUTS(HOST_INPUTS), .HI_W(HI_W), .ROUTES(ROUTES), .CS_W(CS_W), .AX_W(AX_W), .HOP_W(HOP_W),
        .HL_W(HL_W), .NOC_MESH(NOC_MESH)
    ) u_host (
        .clk         (clk),
        .rst_n       (rst_n),
        .in_valid    (in_valid),
        .in_index    (in_index),
        .tw_valid    (ld_hrt),
        .tw_entry    (ld_entry),
        .tw_field    (ld_field),
        .tw_data     (ld_word),
        .tw_hops     (ld_hops),
        .nr_valid    (ld_chip && ld_a32 == 32'd0),
        .nr_data     (ld_word),
        .hop_latency (hop_latency),
        .has_packets (host_has_packets),
        .go          (host_go),
        .busy        (host_busy),
        .last        (host_last),
        .clr         (clr),
        .pkt_valid   (pkt_valid[N_CORES]),
        .pkt_ready   (snd_ready[N_CORES]),
        .pkt_dest    (pkt_dest[N_CORES*CS_W +: CS_W]),
        .pkt_axon    (pkt_axon[N_CORES*AX_W +: AX_W]),
        .cnt_packets (host_packets),
        .cnt_cycles  (host_cnt_cycles)
    );
    wire [31:0] host_cnt_cycles;                         // host router busy cycles (ideal: route_cycles_host)

    // ---------------------------------------------------------- exit unit
    // Output o = ex_index is read while the unit runs: lane ex_neuron % LANES of group ex_neuron / LANES
    // on core ex_core's membrane read port, or bit ex_neuron of its spike bitmap.
    wire [IX_W-1:0]           ex_index;
    wire [CS_W-1:0]           ex_core   = omap_core[ex_index];
    wire [N_W-1:0]            ex_neuron = omap_neuron[ex_index];
    wire [31:0]               ex_n32    = {{(32-N_W){1'b0}}, ex_neuron};
    wire [31:0]               ex_grp32  = ex_n32 / LANES;
    wire [31:0]               ex_lane   = ex_n32 % LANES;
    wire [G_W-1:0]            ex_group  = ex_grp32[G_W-1:0];
    wire [N_CORES*V_BITS-1:0] ex_v_all;                  // per core: the membrane of lane ex_lane
    wire [N_CORES-1:0]        ex_s_all;                  // per core: spike bit ex_neuron
    wire [V_BITS-1:0]         ex_y = ex_spikes ? {{(V_BITS-1){1'b0}}, ex_s_all[ex_core]}
                                               : ex_v_all[ex_core*V_BITS +: V_BITS];

    /* verilator lint_off PINCONNECTEMPTY */
    snn_exit_unit #(.V_BITS(V_BITS), .MAX_OUTPUTS(MAX_OUTPUTS)) u_exit (
        .clk             (clk),
        .rst_n           (rst_n),
        .clear           (ld_chip && ld_a32 == 32'd7),
        .clr             (clr),
        .go              (launch_exit),
        .rule            (ex_rule),
        .n_out           (ex_k),
        .threshold       (ex_threshold),
        .gain_t          (ex_gain),
        .rd_en           (),
        .rd_index        (ex_index),
        .rd_y            (ex_y),
        .busy            (ex_busy),
        .last            (ex_last),
        .exit            (exit),
        .top_index       (exit_top),
        .top1            (),
        .top2            (),
        .z_sum           (),
        .w_sum           (),
        .l_z             (),
        .acc_index       (exit_acc_index),
        .acc_value       (exit_acc),
        .cnt_cycles      (exit_cycles),
        .cnt_acc_updates (exit_acc_updates),
        .cnt_multiplies  (exit_multiplies),
        .cnt_lut_reads   (exit_lut_reads)
    );
    /* verilator lint_on PINCONNECTEMPTY */

    // ------------------------------------------------------------------ cores
    wire [N_CORES*OUT_W-1:0]   bundles;
    wire [N_CORES*N_CORES-1:0] stage_oh;               // core c: one-hot of its stage (0 if unused)

    genvar c, p, l;
    generate
        for (c = 0; c < N_CORES; c = c + 1) begin : g_core
            wire sel = (core_sel == c[CS_W-1:0]);

            // per-core chip registers: used, stage
            reg             used;
            reg [STG_W-1:0] stg;
            always @(posedge clk) begin
                if (!rst_n) begin
                    used <= 1'b0;
                    stg  <= {STG_W{1'b0}};
                end else if (ld_creg && sel) begin
                    if (ld_a32 == 32'd0) used <= ld_word[0];
                    if (ld_a32 == 32'd1) stg  <= ld_word[STG_W-1:0];
                end
            end
            wire in_cur    = used && (stg == cur_stage);
            wire in_launch = used && (stg == launch_stage);
            assign stage_oh[c*N_CORES +: N_CORES] = used ? ({{(N_CORES-1){1'b0}}, 1'b1} << stg) : {N_CORES{1'b0}};

            // packets into this core: contention-free, one AER port (and partial-sum port) per sender;
            // mesh, one port: the local output of this core's router
            wire [CORE_IN-1:0]        rx_valid, rx_ps_valid;
            wire [CORE_IN*AX_W-1:0]   rx_axon;
            wire [CORE_IN*N_W-1:0]    rx_neuron;
            wire [CORE_IN*V_BITS-1:0] rx_value;
            if (NOC_MESH == 0) begin : g_direct
                for (p = 0; p < NS; p = p + 1) begin : g_rx
                    assign rx_valid[p]    = pkt_valid[p] && (pkt_dest[p*CS_W +: CS_W] == c[CS_W-1:0]);
                    assign rx_ps_valid[p] = ps_valid[p] && (pkt_dest[p*CS_W +: CS_W] == c[CS_W-1:0]);
                end
                assign rx_axon   = pkt_axon;
                assign rx_neuron = ps_neuron;
                assign rx_value  = ps_value;
            end else begin : g_mesh_rx
                wire [PAY_W-1:0] pay   = dlv_pay[c*PAY_W +: PAY_W];
                wire [31:0]      index = {{(32-DI_W){1'b0}}, pay[V_BITS +: DI_W]};   // axon or neuron
                assign rx_valid    = dlv_valid[c] && !pay[PAY_W-1];
                assign rx_ps_valid = dlv_valid[c] && pay[PAY_W-1];
                assign rx_axon     = index[AX_W-1:0];
                assign rx_neuron   = index[N_W-1:0];
                wire _unused_rx = &{1'b0, index};
                assign rx_value    = pay[0 +: V_BITS];
            end

            wire c_busy, c_done, c_out_valid;
            wire [G_W-1:0]          c_out_group;
            wire [LANES-1:0]        c_out_spikes;
            wire [LANES*V_BITS-1:0] c_out_v, c_rd_v, c_ps_rd_v;
            wire [G_W-1:0]          c_ps_rd_group;      // membrane group the router reads (partial sums)
            wire [G_W-1:0]          c_rd_group = ex_busy ? ex_group : rd_group;   // the exit unit's while it runs

            snn_core #(
                .AXONS(AXONS), .NEURONS(NEURONS), .LANES(LANES), .W_BITS(W_BITS), .V_BITS(V_BITS), .IN_PORTS(CORE_IN),
                .PARTIAL_SUMS(PARTIAL_SUMS)
            ) u_core (
                .clk        (clk),
                .rst_n      (rst_n),
                .ld_valid   (ld_core && sel),
                .ld_kind    (ld_kind[1:0]),
                .ld_addr    (ld_addr[LDA_W-1:0]),
                .ld_data    (ld_data),
                .in_valid   (rx_valid),
                .in_axon    (rx_axon),
                .start      (launch_cores && in_launch),
                .busy       (c_busy),
                .done       (c_done),
                .out_valid  (c_out_valid),
                .out_group  (c_out_group),
                .out_spikes (c_out_spikes),
                .out_v      (c_out_v),
                .rd_group   (c_rd_group),
                .rd_v       (c_rd_v),
                .ps_valid   (rx_ps_valid),
                .ps_neuron  (rx_neuron),
                .ps_value   (rx_value),
                .ps_rd_group(c_ps_rd_group),
                .ps_rd_v    (c_ps_rd_v)
            );

            // What the router sends: the spikes, or for a partial-sum core the nonzero membranes
            // (c_src, c_rd_spk, the router's packet signals and the partial-sum registers below).
            wire [LANES-1:0]  c_src;
            wire [LANES-1:0]  rd_spk;
            wire              r_valid;
            wire [DI_W-1:0]   r_index;
            wire [N_W-1:0]    r_src;

            // source bitmap of this timestep (spikes, or nonzero membranes), captured from the spike port in UPDATE
            reg [NEURONS-1:0] spk;
            reg [31:0]        core_cyc;
            always @(posedge clk) begin
                if (!rst_n) begin
                    spk      <= SPK_ZERO;
                    core_cyc <= 32'd0;
                end else begin
                    if (c_out_valid)
                        spk[c_out_group*LANES +: LANES] <= c_src;
                    if (clr)
                        core_cyc <= 32'd0;
                    else if (c_busy)
                        core_cyc <= core_cyc + 32'd1;
                end
            end

            wire        r_busy, r_last, r_has;
            wire [31:0] r_packets, r_cycles;
            /* verilator lint_off PINCONNECTEMPTY */
            snn_router #(
                .SRC(NEURONS), .ROUTES(ROUTES), .CS_W(CS_W), .AX_W(DI_W), .HOP_W(HOP_W), .HL_W(HL_W),
                .NOC_MESH(NOC_MESH)
            ) u_router (
                .clk         (clk),
                .rst_n       (rst_n),
                .tw_valid    (ld_route && sel),
                .tw_entry    (ld_entry),
                .tw_field    (ld_field),
                .tw_data     (ld_word),
                .tw_hops     (ld_hops),
                .nr_valid    (ld_creg && sel && ld_a32 == 32'd2),
                .nr_data     (ld_word),
                .hop_latency (hop_latency),
                .src_spikes  (spk),
                .has_packets (r_has),
                .go          (launch_route && in_cur),
                .busy        (r_busy),
                .last        (r_last),
                .clr         (clr),
                .pkt_valid   (r_valid),
                .pkt_ready   (snd_ready[c]),
                .pkt_dest    (pkt_dest[c*CS_W +: CS_W]),
                .pkt_axon    (r_index),
                .pkt_src     (r_src),
                .max_hops    (),
                .cnt_packets (r_packets),
                .cnt_cycles  (r_cycles)
            );
            /* verilator lint_on PINCONNECTEMPTY */

            // what the exit unit reads of this core (output o of the output map, when ex_core = c)
            assign ex_v_all[c*V_BITS +: V_BITS] = c_rd_v[ex_lane*V_BITS +: V_BITS];
            assign ex_s_all[c]                  = spk[ex_neuron];

            // stage status, combined over the cores of the current stage
            assign cores_ok[c] = !in_cur || c_done || !c_busy;
            assign rt_ok[c]    = !in_cur || r_last || !r_busy;
            assign rt_pk[c]    = in_cur && r_has;
            assign ni_remain[c] = r_busy && !r_last;

            if (PARTIAL_SUMS != 0) begin : g_psum
                reg psum_out;                            // this core sends partial sums (chip-spec §1.3)
                always @(posedge clk) begin
                    if (!rst_n)
                        psum_out <= 1'b0;
                    else if (ld_creg && sel && ld_a32 == 32'd3)
                        psum_out <= ld_word[0];
                end
                wire [LANES-1:0] nonzero;                // lane l's end-of-timestep membrane is not 0
                for (l = 0; l < LANES; l = l + 1) begin : g_nz
                    assign nonzero[l] = |c_out_v[l*V_BITS +: V_BITS];
                end
                assign c_src  = psum_out ? nonzero : c_out_spikes;
                assign rd_spk = psum_out ? {LANES{1'b0}} : spk[rd_group*LANES +: LANES];   // fire = 0: no spikes
                // a partial-sum packet: neuron index from the table, value v[j] of the idle core
                wire [31:0] r_src_32   = {{(32-N_W){1'b0}}, r_src};
                wire [31:0] src_grp_32 = r_src_32 / LANES;
                wire [31:0] src_lane   = r_src_32 % LANES;
                assign c_ps_rd_group = src_grp_32[G_W-1:0];
                assign pkt_valid[c]  = r_valid && !psum_out;
                assign ps_valid[c]   = r_valid && psum_out;
                assign pkt_axon[c*AX_W +: AX_W]     = r_index[AX_W-1:0];
                assign ps_neuron[c*N_W +: N_W]      = r_index[N_W-1:0];
                assign ps_value[c*V_BITS +: V_BITS] = c_ps_rd_v[src_lane*V_BITS +: V_BITS];
                assign snd_pay[c*PAY_W +: PAY_W]    = {psum_out, r_index, c_ps_rd_v[src_lane*V_BITS +: V_BITS]};
                wire _unused_ps = &{1'b0, r_index, r_src_32, src_grp_32, src_lane};
            end else begin : g_no_psum
                assign c_src         = c_out_spikes;
                assign rd_spk        = spk[rd_group*LANES +: LANES];
                assign c_ps_rd_group = {G_W{1'b0}};
                assign pkt_valid[c]  = r_valid;
                assign ps_valid[c]   = 1'b0;
                assign pkt_axon[c*AX_W +: AX_W]     = r_index;
                assign ps_neuron[c*N_W +: N_W]      = {N_W{1'b0}};
                assign ps_value[c*V_BITS +: V_BITS] = {V_BITS{1'b0}};
                assign snd_pay[c*PAY_W +: PAY_W]    = {1'b0, r_index, {V_BITS{1'b0}}};
                wire _unused_ps = &{1'b0, r_src, c_ps_rd_v};
            end
            assign bundles[c*OUT_W +: OUT_W] = {c_out_valid, c_out_group, c_out_spikes, c_out_v,
                                                c_rd_v, rd_spk, core_cyc, r_cycles, r_packets};
        end
    endgenerate

    // ------------------------------------------------------------------ mesh
    always @(posedge clk) begin
        if (!rst_n || clr)
            noc_route_cycles <= 32'd0;
        else if (phase == 3'd2 || phase == 3'd4)      // HOST, ROUTE
            noc_route_cycles <= noc_route_cycles + 32'd1;
    end
    wire [N_CORES*5*32-1:0] link_packets_all, link_stalls_all;
    generate
        if (NOC_MESH != 0) begin : g_mesh
            // Router 0's local input: the host port's interface in the HOST phase, core 0's otherwise
            // (never both at once, chip-spec §1.5).
            wire [N_CORES-1:0]       li_valid = pkt_valid[N_CORES-1:0] | ps_valid[N_CORES-1:0]
                                              | {{(N_CORES-1){1'b0}}, pkt_valid[N_CORES]};
            wire                     host_on = pkt_valid[N_CORES];
            wire [N_CORES*CS_W-1:0]  li_dest;
            wire [N_CORES*PAY_W-1:0] li_pay;
            assign li_dest[0 +: CS_W]  = host_on ? pkt_dest[N_CORES*CS_W +: CS_W] : pkt_dest[0 +: CS_W];
            assign li_pay[0 +: PAY_W]  = host_on ? snd_pay[N_CORES*PAY_W +: PAY_W] : snd_pay[0 +: PAY_W];
            for (c = 1; c < N_CORES; c = c + 1) begin : g_li
                assign li_dest[c*CS_W +: CS_W]   = pkt_dest[c*CS_W +: CS_W];
                assign li_pay[c*PAY_W +: PAY_W]  = snd_pay[c*PAY_W +: PAY_W];
            end
            wire [N_CORES-1:0]       li_ready;
            wire                     busy_next;
            snn_mesh #(
                .MESH_ROWS(MESH_ROWS), .MESH_COLS(MESH_COLS), .CS_W(CS_W), .PAY_W(PAY_W),
                .BUFFER_FLITS(BUFFER_FLITS), .HL_W(HL_W)
            ) u_mesh (
                .clk               (clk),
                .rst_n             (rst_n),
                .phase_start       (host_go || launch_route),
                .cnt_clr           (clr),
                .hop_latency       (hop_latency),
                .li_valid          (li_valid),
                .li_dest           (li_dest),
                .li_pay            (li_pay),
                .li_ready          (li_ready),
                .dl_valid          (dlv_valid),
                .dl_pay            (dlv_pay),
                .busy_next         (busy_next),
                .cnt_buffer_writes (noc_buffer_writes),
                .cnt_stall_cycles  (noc_stall_cycles),
                .link_packets      (link_packets_all),
                .link_stalls       (link_stalls_all)
            );
            assign snd_ready = {li_ready[0], li_ready};
            // the last delivery: nothing is left in a buffer or an interface after this cycle
            assign mesh_last = !busy_next && !(|ni_remain) && !(host_busy && !host_last);
            // the host's route_cycles is the HOST phase length (chip-spec §1.5)
            reg [31:0] host_phase_cycles;
            always @(posedge clk) begin
                if (!rst_n || clr)
                    host_phase_cycles <= 32'd0;
                else if (phase == 3'd2)
                    host_phase_cycles <= host_phase_cycles + 32'd1;
            end
            assign host_route_cycles = host_phase_cycles;
            for (c = 0; c < N_CORES; c = c + 1) begin : g_dlv
                assign noc_dlv_index[c*DI_W +: DI_W] = dlv_pay[c*PAY_W + V_BITS +: DI_W];
            end
            assign noc_dlv_valid = dlv_valid;
            wire _unused_mesh = &{1'b0, host_cnt_cycles, pkt_axon, ps_valid, ps_neuron, ps_value};
        end else begin : g_direct_noc
            assign snd_ready         = {NS{1'b1}};
            assign mesh_last         = 1'b0;
            assign dlv_valid         = {N_CORES{1'b0}};
            assign dlv_pay           = {(N_CORES*PAY_W){1'b0}};
            assign noc_buffer_writes = 32'd0;
            assign noc_stall_cycles  = 32'd0;
            assign link_packets_all  = {(N_CORES*5*32){1'b0}};
            assign link_stalls_all   = {(N_CORES*5*32){1'b0}};
            assign host_route_cycles = host_cnt_cycles;
            assign noc_dlv_valid     = {N_CORES{1'b0}};
            assign noc_dlv_index     = {(N_CORES*DI_W){1'b0}};
            wire _unused_mesh = &{1'b0, snd_pay, snd_ready, ni_remain, host_busy, dlv_pay, dlv_valid};
        end
    endgenerate
    assign rd_link_packets = link_packets_all[core_sel*5*32 +: 5*32];
    assign rd_link_stalls  = link_stalls_all[core_sel*5*32 +: 5*32];

    // stage s is used when some used core has stage s
    integer s;
    always @* begin
        stage_used = {N_CORES{1'b0}};
        for (s = 0; s < N_CORES; s = s + 1)
            stage_used = stage_used | stage_oh[s*N_CORES +: N_CORES];
    end

    // --------------------------------------------------- selected core's outputs
    wire [OUT_W-1:0] sel_bundle = bundles[core_sel * OUT_W +: OUT_W];
    assign {out_valid, out_group, out_spikes, out_v,
            rd_v, rd_spikes, rd_core_cycles, rd_route_cycles, rd_packets} = sel_bundle;

    // Bits that are deliberately not used by every configuration.
    wire _unused = &{1'b0, host_axon_32, ld_a32, ld_word, ld_data, snd_row, snd_col, dst_row, dst_col,
                     hops_32, omap_o32, ex_n32, ex_grp32};

endmodule

`default_nettype wire
