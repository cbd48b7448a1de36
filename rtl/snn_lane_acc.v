// =============================================================================
// snn_lane_acc.v -- P-lane accumulate datapath of the INTEGRATE phase
// =============================================================================
// Combinational. Adds one SRAM word (LANES weights) to the LANES membranes of
// one lane group, saturating every single addition to V_BITS
// (chip-spec §2.2 step 2). Lanes with `lane_en` low (neurons >= n_neurons)
// pass their membrane through unchanged.
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
    output wire [LANES*V_BITS-1:0] v_out        // sat(v + w) per enabled lane
);

    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_lane
            wire [V_BITS-1:0] sum;
            snn_sat_add #(.A_BITS(V_BITS), .B_BITS(W_BITS)) u_add (
                .a (v_in[l*V_BITS +: V_BITS]),
                .b (w_in[l*W_BITS +: W_BITS]),
                .y (sum)
            );
            assign v_out[l*V_BITS +: V_BITS] = lane_en[l] ? sum : v_in[l*V_BITS +: V_BITS];
        end
    endgenerate

endmodule

`default_nettype wire
