// =============================================================================
// snn_mesh_router.v -- one router of the mesh network-on-chip (chip-spec §1.5)
// =============================================================================
// Five input and five output ports, numbered 0 local, 1 north, 2 east,
// 3 south, 4 west (the round-robin order). A packet (one flit) is
// {dest_row, dest_col, payload}; the router only reads the destination.
//
//   input 0      the network interface (the sender's snn_router, or the
//                host port's at router 0): valid/ready, no buffer; the head
//                packet is ready in every cycle, `li_ready` is its grant.
//   inputs 1..4  a FIFO of BUFFER_FLITS entries each, written by the
//                neighbour's link; every entry carries a countdown of the
//                router pipeline: written in cycle k, it may leave from cycle
//                k + hop_latency (countdown hop_latency - 1, minus one per cycle).
//   requests     every input whose head is ready requests its XY output
//                (east/west until the column matches, then south/north, then local).
//   back-pressure output d in 1..4 is available when the neighbour's input
//                buffer it feeds is not full (`lo_full`, the neighbour's
//                registered occupancy at the start of the cycle: no
//                combinational path runs through two routers); output 0 always.
//   arbitration  every available output with requests grants the first
//                requesting input in the order ptr, ptr+1, ... (mod 5); the
//                pointer becomes granted + 1 (mod 5), only on a grant, and is
//                0 after `phase_start` (every routing phase starts from 0).
//   stalls       every request not granted counts one stall cycle on its output.
//   transfers    at the clock edge: a granted packet leaves its input; through
//                output 0 it is delivered (`dl_valid`, `dl_pay`, in this cycle),
//                through output d it is written into the neighbour's buffer.
//
// The routing phase is over when no buffer of any router holds a packet after
// this cycle (`busy_next` low everywhere) and no network interface has one
// left: snn_mesh / snn_chip combine those flags. Outputs on the mesh edge
// have no link; XY routing never requests them for a destination on the
// mesh (snn_mesh ties their `lo_full` low and their `lo_valid` goes nowhere).
`default_nettype none

module snn_mesh_router #(
    // Position of this router in the mesh (core row * MESH_COLS + column).
    parameter integer ROW = 0,
    parameter integer COL = 0,
    // Widths of the destination row and column fields of a flit; >= 1.
    parameter integer ROW_W = 1,
    parameter integer COL_W = 1,
    // Payload bits of a flit (what the destination core needs: index, kind, value); >= 1.
    parameter integer PAY_W = 8,
    // Entries of each of the input FIFOs 1..4 (router_buffer_flits); 1..64.
    parameter integer BUFFER_FLITS = 4,
    // Hop-latency register width in bits; >= 1.
    parameter integer HL_W = 7
) (
    input  wire                 clk,            // clock, rising edge
    input  wire                 rst_n,          // synchronous reset, active low (empty buffers, pointers 0)
    input  wire                 phase_start,    // a routing phase starts next cycle: round-robin pointers to 0
    input  wire                 cnt_clr,        // clear the per-output counters
    input  wire [HL_W-1:0]      hop_latency,    // router pipeline cycles (hop_latency_cycles >= 1; 0 acts as 1)
    // input 0: the network interface ---------------------------------------------------------
    input  wire                 li_valid,       // the interface offers its head packet
    input  wire [FL_W-1:0]      li_flit,        // that packet {dest_row, dest_col, payload}
    output wire                 li_ready,       // granted: it leaves this cycle (the interface moves on)
    // inputs 1..4: links from the neighbours, port p at [(p-1)*...] ---------------------------
    input  wire [3:0]           ln_valid,       // bit p-1: the neighbour writes a packet into FIFO p
    input  wire [4*FL_W-1:0]    ln_flit,        // its packet
    output wire [3:0]           ln_full,        // bit p-1: FIFO p holds BUFFER_FLITS packets (registered)
    // outputs 1..4: links to the neighbours, port d at [(d-1)*...] ---------------------------
    output wire [3:0]           lo_valid,       // bit d-1: a packet leaves through output d
    output wire [4*FL_W-1:0]    lo_flit,        // its packet
    input  wire [3:0]           lo_full,        // bit d-1: the neighbour's FIFO behind output d is full
    // output 0: delivery into this router's core --------------------------------------------
    output wire                 dl_valid,       // a packet is delivered this cycle
    output wire [PAY_W-1:0]     dl_pay,         // its payload
    // status ---------------------------------------------------------------------------------
    output wire                 busy_next,      // some FIFO holds a packet after this cycle
    output wire [2:0]           n_writes,       // packets sent over links 1..4 this cycle (buffer writes)
    output wire [2:0]           n_stalls,       // requests not granted this cycle (stall cycles)
    output reg  [5*32-1:0]      cnt_packets,    // per output d at [d*32]: packets since cnt_clr (port 0: deliveries)
    output reg  [5*32-1:0]      cnt_stalls      // per output d at [d*32]: stall cycles since cnt_clr
);

    localparam integer FL_W  = ROW_W + COL_W + PAY_W;
    localparam integer BP_W  = (BUFFER_FLITS > 1) ? $clog2(BUFFER_FLITS) : 1;   // FIFO slot index
    localparam integer BC_W  = $clog2(BUFFER_FLITS + 1);                         // FIFO occupancy
    localparam [BC_W-1:0] DEPTH = BUFFER_FLITS[BC_W-1:0];
    localparam [2:0] P_LOCAL = 3'd0, P_NORTH = 3'd1, P_EAST = 3'd2, P_SOUTH = 3'd3, P_WEST = 3'd4;

    // ready countdown of a packet written this cycle: hop_latency - 1 (0 and 1 both mean: next cycle)
    wire [HL_W-1:0] wait_init = (hop_latency == {HL_W{1'b0}}) ? {HL_W{1'b0}} : hop_latency - 1'b1;

    // ---------------------------------------------------------- heads of the five inputs
    wire [4:0]      head_ready;                 // input p offers a packet that may leave this cycle
    wire [5*FL_W-1:0] head_flit;
    wire [4:0]      pop;                        // input p's head leaves this cycle (granted)
    assign head_ready[0]          = li_valid;
    assign head_flit[0 +: FL_W]   = li_flit;
    assign li_ready               = pop[0];
    wire [3:0]      fifo_next;                  // FIFO p holds a packet after this cycle

    genvar p;
    generate
        for (p = 1; p <= 4; p = p + 1) begin : g_fifo
            reg [FL_W-1:0] mem_flit [0:BUFFER_FLITS-1];
            reg [HL_W-1:0] mem_wait [0:BUFFER_FLITS-1];
            reg [BP_W-1:0] rd_ptr, wr_ptr;
            reg [BC_W-1:0] count;
            wire           wr = ln_valid[p-1];
            wire           rd = pop[p];
            wire [31:0]    rd_32 = {{(32-BP_W){1'b0}}, rd_ptr};
            wire [31:0]    wr_32 = {{(32-BP_W){1'b0}}, wr_ptr};
            wire [BP_W-1:0] rd_inc = (rd_32 == BUFFER_FLITS - 1) ? {BP_W{1'b0}} : rd_ptr + 1'b1;
            wire [BP_W-1:0] wr_inc = (wr_32 == BUFFER_FLITS - 1) ? {BP_W{1'b0}} : wr_ptr + 1'b1;
            integer e;
            always @(posedge clk) begin
                // every countdown runs, empty slots included (a write below overrides its slot)
                for (e = 0; e < BUFFER_FLITS; e = e + 1)
                    if (mem_wait[e] != {HL_W{1'b0}})
                        mem_wait[e] <= mem_wait[e] - 1'b1;
                if (wr) begin
                    mem_flit[wr_ptr] <= ln_flit[(p-1)*FL_W +: FL_W];
                    mem_wait[wr_ptr] <= wait_init;
                end
                if (!rst_n) begin
                    rd_ptr <= {BP_W{1'b0}};
                    wr_ptr <= {BP_W{1'b0}};
                    count  <= {BC_W{1'b0}};
                end else begin
                    if (wr) wr_ptr <= wr_inc;
                    if (rd) rd_ptr <= rd_inc;
                    count <= count + {{(BC_W-1){1'b0}}, wr} - {{(BC_W-1){1'b0}}, rd};
                end
            end
            assign head_ready[p]            = (count != {BC_W{1'b0}}) && (mem_wait[rd_ptr] == {HL_W{1'b0}});
            assign head_flit[p*FL_W +: FL_W] = mem_flit[rd_ptr];
            assign ln_full[p-1]             = (count == DEPTH);
            // after this cycle: count + wr - rd != 0 (a read needs a packet; BUFFER_FLITS + 1 never occurs)
            assign fifo_next[p-1]           = (count > {{(BC_W-1){1'b0}}, rd}) || wr;
            wire _unused_fifo = &{1'b0, rd_32, wr_32};
        end
    endgenerate

    // ---------------------------------------------------------------- XY route of each head
    reg [14:0] head_dir;                        // input p: requested output at [p*3 +: 3]
    reg [31:0] d_row, d_col;
    integer i;
    always @* begin
        d_row = 32'd0;
        d_col = 32'd0;
        for (i = 0; i < 5; i = i + 1) begin
            d_row = {{(32-ROW_W){1'b0}}, head_flit[i*FL_W + PAY_W + COL_W +: ROW_W]};
            d_col = {{(32-COL_W){1'b0}}, head_flit[i*FL_W + PAY_W +: COL_W]};
            if (d_col > COL)
                head_dir[i*3 +: 3] = P_EAST;
            else if (d_col != COL)        // west: d_col < COL
                head_dir[i*3 +: 3] = P_WEST;
            else if (d_row > ROW)
                head_dir[i*3 +: 3] = P_SOUTH;
            else if (d_row != ROW)        // north: d_row < ROW
                head_dir[i*3 +: 3] = P_NORTH;
            else
                head_dir[i*3 +: 3] = P_LOCAL;
        end
    end

    // ---------------------------------------------------------- round-robin arbitration
    reg  [14:0] ptr;                            // output d's pointer at [d*3 +: 3], 0..4
    wire [4:0]  avail = {~lo_full, 1'b1};       // output 0 (local) never blocks
    reg  [24:0] req;                            // output d, input p at [d*5 + p]
    reg  [24:0] gnt;                            // one-hot per output
    reg  [4:0]  gnt_any;                        // output d grants
    reg  [14:0] gnt_idx;                        // output d: the granted input
    reg  [14:0] n_req;                          // output d: requests, 0..5
    reg  [4:0]  pop_r;
    integer d, k, q;
    always @* begin
        req     = 25'd0;
        gnt     = 25'd0;
        gnt_any = 5'd0;
        gnt_idx = 15'd0;
        n_req   = 15'd0;
        pop_r   = 5'd0;
        q       = 0;
        for (d = 0; d < 5; d = d + 1) begin
            for (k = 0; k < 5; k = k + 1)
                if (head_ready[k] && head_dir[k*3 +: 3] == d[2:0]) begin
                    req[d*5 + k] = 1'b1;
                    n_req[d*3 +: 3] = n_req[d*3 +: 3] + 3'd1;
                end
            if (avail[d]) begin
                for (k = 0; k < 5; k = k + 1) begin
                    q = {29'd0, ptr[d*3 +: 3]} + k;
                    if (q >= 5) q = q - 5;
                    if (!gnt_any[d] && req[d*5 + q]) begin
                        gnt_any[d]        = 1'b1;
                        gnt[d*5 + q]      = 1'b1;
                        gnt_idx[d*3 +: 3] = q[2:0];
                        pop_r[q]          = 1'b1;
                    end
                end
            end
        end
    end
    assign pop = pop_r;

    integer pd;
    always @(posedge clk) begin
        if (!rst_n || phase_start) begin
            ptr <= 15'd0;
        end else begin
            for (pd = 0; pd < 5; pd = pd + 1)
                if (gnt_any[pd])
                    ptr[pd*3 +: 3] <= (gnt_idx[pd*3 +: 3] == 3'd4) ? 3'd0 : gnt_idx[pd*3 +: 3] + 3'd1;
        end
    end

    // ------------------------------------------------------------------ output data
    reg [5*FL_W-1:0] out_flit;                  // output d: the granted input's head
    integer od, ok;
    always @* begin
        out_flit = {(5*FL_W){1'b0}};
        for (od = 0; od < 5; od = od + 1)
            for (ok = 0; ok < 5; ok = ok + 1)
                if (gnt[od*5 + ok])
                    out_flit[od*FL_W +: FL_W] = head_flit[ok*FL_W +: FL_W];
    end
    assign lo_valid = gnt_any[4:1];
    assign lo_flit  = out_flit[FL_W +: 4*FL_W];
    assign dl_valid = gnt_any[0];
    assign dl_pay   = out_flit[0 +: PAY_W];

    // ----------------------------------------------------------------------- status
    assign busy_next = |fifo_next;
    assign n_writes  = {2'b00, gnt_any[1]} + {2'b00, gnt_any[2]} + {2'b00, gnt_any[3]} + {2'b00, gnt_any[4]};
    // every input requests at most once, so requests minus grants is at most 5
    reg [2:0] stalls_r;
    integer sd;
    always @* begin
        stalls_r = 3'd0;
        for (sd = 0; sd < 5; sd = sd + 1)
            stalls_r = stalls_r + n_req[sd*3 +: 3] - {2'b00, gnt_any[sd]};
    end
    assign n_stalls = stalls_r;

    integer cd;
    always @(posedge clk) begin
        if (!rst_n || cnt_clr) begin
            cnt_packets <= {(5*32){1'b0}};
            cnt_stalls  <= {(5*32){1'b0}};
        end else begin
            for (cd = 0; cd < 5; cd = cd + 1) begin
                cnt_packets[cd*32 +: 32] <= cnt_packets[cd*32 +: 32] + {31'd0, gnt_any[cd]};
                cnt_stalls[cd*32 +: 32]  <= cnt_stalls[cd*32 +: 32] + {29'd0, n_req[cd*3 +: 3]} - {31'd0, gnt_any[cd]};
            end
        end
    end

    // Bits that are deliberately not used: the destination fields of a delivered packet.
    wire _unused = &{1'b0, out_flit[PAY_W +: ROW_W + COL_W]};

endmodule

`default_nettype wire
