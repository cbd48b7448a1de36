// =============================================================================
// snn_mesh.v -- the mesh network-on-chip: MESH_ROWS x MESH_COLS snn_mesh_router (chip-spec §1.5)
// =============================================================================
// Router r sits at row r / MESH_COLS, column r % MESH_COLS (the core numbering).
// Output d of router r is joined to input opposite(d) of its neighbour in
// direction d (north = row - 1, east = column + 1, south = row + 1, west =
// column - 1), and the neighbour's registered "full" flag of that input is
// router r's back-pressure on output d. Ports on the mesh edge have no link:
// their inputs never receive, their outputs are never requested (XY routing
// to a destination on the mesh).
//
// Each router's input 0 is a network interface (li_*; valid/ready, the
// destination as a core index, turned into the flit's row and column here),
// its output 0 the delivery into its core (dl_*). `busy_next` is high while
// some input buffer of some router holds a packet after this cycle: with
// every network interface empty after this cycle too, the cycle is the
// routing phase's last (its last delivery). The counters (buffer writes =
// link traversals, stall cycles of all outputs, and per router and output
// packets and stall cycles) run from `cnt_clr` on.
`default_nettype none

module snn_mesh #(
    // Mesh rows; 1..64.
    parameter integer MESH_ROWS = 2,
    // Mesh columns; 1..64.
    parameter integer MESH_COLS = 2,
    // Core index width in bits; >= 1 and 2^CS_W >= MESH_ROWS * MESH_COLS.
    parameter integer CS_W = 2,
    // Payload bits of a packet; >= 1.
    parameter integer PAY_W = 8,
    // Entries of each router input FIFO (router_buffer_flits); 1..64.
    parameter integer BUFFER_FLITS = 4,
    // Hop-latency register width in bits; >= 1.
    parameter integer HL_W = 7
) (
    input  wire                   clk,          // clock, rising edge
    input  wire                   rst_n,        // synchronous reset, active low
    input  wire                   phase_start,  // a routing phase starts next cycle: every pointer to 0
    input  wire                   cnt_clr,      // clear every counter
    input  wire [HL_W-1:0]        hop_latency,  // router pipeline cycles per hop
    // network interfaces, router r at bit r / [r*CS_W] / [r*PAY_W] ----------------------------
    input  wire [N-1:0]           li_valid,     // router r's interface offers a packet
    input  wire [N*CS_W-1:0]      li_dest,      // its destination core, < MESH_ROWS * MESH_COLS
    input  wire [N*PAY_W-1:0]     li_pay,       // its payload
    output wire [N-1:0]           li_ready,     // it leaves this cycle (granted)
    // deliveries, router r's core -----------------------------------------------------------
    output wire [N-1:0]           dl_valid,     // a packet is delivered into core r this cycle
    output wire [N*PAY_W-1:0]     dl_pay,       // its payload
    // status -------------------------------------------------------------------------------
    output wire                   busy_next,    // some input buffer holds a packet after this cycle
    output reg  [31:0]            cnt_buffer_writes, // packets written into input buffers since cnt_clr
    output reg  [31:0]            cnt_stall_cycles,  // stall cycles of all outputs since cnt_clr
    output wire [N*5*32-1:0]      link_packets, // router r, output d at [(r*5+d)*32]: packets since cnt_clr
    output wire [N*5*32-1:0]      link_stalls   // router r, output d at [(r*5+d)*32]: stall cycles since cnt_clr
);

    localparam integer N     = MESH_ROWS * MESH_COLS;
    localparam integer ROW_W = (MESH_ROWS > 1) ? $clog2(MESH_ROWS) : 1;
    localparam integer COL_W = (MESH_COLS > 1) ? $clog2(MESH_COLS) : 1;
    localparam integer FL_W  = ROW_W + COL_W + PAY_W;

    // Router r's outputs 1..4 (links and their data), at [r*4 + d-1]; and its inputs' full flags.
    wire [N*4-1:0]      out_valid;
    wire [N*4*FL_W-1:0] out_flit;
    wire [N*4-1:0]      in_full;
    wire [N-1:0]        r_busy_next;
    wire [N*3-1:0]      r_writes, r_stalls;

    genvar r;
    generate
        for (r = 0; r < N; r = r + 1) begin : g_router
            localparam integer ROW = r / MESH_COLS;
            localparam integer COL = r % MESH_COLS;
            // neighbours (an index on the mesh edge points at r itself; its link is tied off below)
            localparam integer R_N = (ROW > 0)             ? r - MESH_COLS : r;
            localparam integer R_E = (COL < MESH_COLS - 1) ? r + 1         : r;
            localparam integer R_S = (ROW < MESH_ROWS - 1) ? r + MESH_COLS : r;
            localparam integer R_W = (COL > 0)             ? r - 1         : r;
            localparam [3:0]   HAS = {COL > 0, ROW < MESH_ROWS - 1, COL < MESH_COLS - 1, ROW > 0};  // W S E N

            // the interface's packet as a flit: destination row and column, payload
            wire [31:0]      dest_32 = {{(32-CS_W){1'b0}}, li_dest[r*CS_W +: CS_W]};
            wire [31:0]      row_32  = dest_32 / MESH_COLS;
            wire [31:0]      col_32  = dest_32 % MESH_COLS;
            wire [FL_W-1:0]  li_flit = {row_32[ROW_W-1:0], col_32[COL_W-1:0], li_pay[r*PAY_W +: PAY_W]};

            // inputs 1..4 = N E S W: the neighbour's output opposite (its S W N E)
            wire [3:0] ln_valid = HAS & {out_valid[R_W*4 + 1], out_valid[R_S*4 + 0],
                                         out_valid[R_E*4 + 3], out_valid[R_N*4 + 2]};
            wire [4*FL_W-1:0] ln_flit = {out_flit[(R_W*4 + 1)*FL_W +: FL_W], out_flit[(R_S*4 + 0)*FL_W +: FL_W],
                                         out_flit[(R_E*4 + 3)*FL_W +: FL_W], out_flit[(R_N*4 + 2)*FL_W +: FL_W]};
            // back-pressure of outputs 1..4: the neighbour's input opposite is full (no neighbour: never used)
            wire [3:0] lo_full  = HAS & {in_full[R_W*4 + 1], in_full[R_S*4 + 0],
                                         in_full[R_E*4 + 3], in_full[R_N*4 + 2]};

            snn_mesh_router #(
                .ROW(ROW), .COL(COL), .ROW_W(ROW_W), .COL_W(COL_W), .PAY_W(PAY_W),
                .BUFFER_FLITS(BUFFER_FLITS), .HL_W(HL_W)
            ) u_router (
                .clk         (clk),
                .rst_n       (rst_n),
                .phase_start (phase_start),
                .cnt_clr     (cnt_clr),
                .hop_latency (hop_latency),
                .li_valid    (li_valid[r]),
                .li_flit     (li_flit),
                .li_ready    (li_ready[r]),
                .ln_valid    (ln_valid),
                .ln_flit     (ln_flit),
                .ln_full     (in_full[r*4 +: 4]),
                .lo_valid    (out_valid[r*4 +: 4]),
                .lo_flit     (out_flit[r*4*FL_W +: 4*FL_W]),
                .lo_full     (lo_full),
                .dl_valid    (dl_valid[r]),
                .dl_pay      (dl_pay[r*PAY_W +: PAY_W]),
                .busy_next   (r_busy_next[r]),
                .n_writes    (r_writes[r*3 +: 3]),
                .n_stalls    (r_stalls[r*3 +: 3]),
                .cnt_packets (link_packets[r*5*32 +: 5*32]),
                .cnt_stalls  (link_stalls[r*5*32 +: 5*32])
            );
            wire _unused_r = &{1'b0, dest_32, row_32, col_32};
        end
    endgenerate

    assign busy_next = |r_busy_next;
    // Outputs on the mesh edge drive no link (XY routing never uses them).
    wire _unused_edges = &{1'b0, out_flit};

    // ------------------------------------------------------------ chip-wide NoC counters
    reg [31:0] writes_now, stalls_now;          // this cycle, over all routers
    integer i;
    always @* begin
        writes_now = 32'd0;
        stalls_now = 32'd0;
        for (i = 0; i < N; i = i + 1) begin
            writes_now = writes_now + {29'd0, r_writes[i*3 +: 3]};
            stalls_now = stalls_now + {29'd0, r_stalls[i*3 +: 3]};
        end
    end
    always @(posedge clk) begin
        if (!rst_n || cnt_clr) begin
            cnt_buffer_writes <= 32'd0;
            cnt_stall_cycles  <= 32'd0;
        end else begin
            cnt_buffer_writes <= cnt_buffer_writes + writes_now;
            cnt_stall_cycles  <= cnt_stall_cycles + stalls_now;
        end
    end

endmodule

`default_nettype wire
