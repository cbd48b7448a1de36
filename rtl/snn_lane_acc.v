// =============================================================================
// snn_lane_acc.v -- P-lane accumulate datapath of the INTEGRATE phase
// =============================================================================
// Combinational. Adds one SRAM word (LANES weights) to the LANES membranes of
// one lane group, saturating every single addition to V_BITS
// (chip-spec §2.2 step 2):  v_out[l] = sat_V(v_in[l] + w_in[l]).
// Lanes with `lane_en` low (neurons >= n_neurons) pass their membrane through.
// The lanes are one loop in one always block (not LANES instances) so that an
// event-driven simulator updates the whole word once per cycle.
`default_nettype none

module snn_lane_acc #(
    // Parallel accumulator lanes (P); >= 1.
    parameter integer LANES = 16,
    // Weight width in bits; 2..16, < V_BITS.
    parameter integer W_BITS = 8,
    // Membrane width in bits; 4..32.
    parameter integer V_BITS = 16
) (
    input  wire [LANES*V_BITS-1:0] v_in,        // membranes, lane l at [l*V_BITS +: V_BITS]
    input  wire [LANES*W_BITS-1:0] w_in,        // weights, lane l at [l*W_BITS +: W_BITS]
    input  wire [LANES-1:0]        lane_en,     // lane holds a neuron in use
    output reg  [LANES*V_BITS-1:0] v_out        // sat(v + w) per enabled lane
);

    localparam [V_BITS-1:0] V_MAX = {1'b0, {(V_BITS-1){1'b1}}};   //  2^(V-1)-1
    localparam [V_BITS-1:0] V_MIN = {1'b1, {(V_BITS-1){1'b0}}};   // -2^(V-1)

    integer l;
    reg [V_BITS-1:0] v;
    reg [W_BITS-1:0] w;
    reg [V_BITS:0]   sum;   // one guard bit: v + w cannot overflow V_BITS+1 bits

    always @* begin
        v_out = v_in;
        for (l = 0; l < LANES; l = l + 1) begin
            v   = v_in[l*V_BITS +: V_BITS];
            w   = w_in[l*W_BITS +: W_BITS];
            sum = {v[V_BITS-1], v} + {{(V_BITS+1-W_BITS){w[W_BITS-1]}}, w};
            if (lane_en[l]) begin
                // The two top bits differ exactly when the sum left the V_BITS range.
                if (sum[V_BITS] != sum[V_BITS-1])
                    v_out[l*V_BITS +: V_BITS] = sum[V_BITS] ? V_MIN : V_MAX;
                else
                    v_out[l*V_BITS +: V_BITS] = sum[V_BITS-1:0];
            end
        end
    end

endmodule

`default_nettype wire
