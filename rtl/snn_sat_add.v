// =============================================================================
// snn_sat_add.v -- signed saturating adder: y = sat_A(a + b) (chip-spec sat_b)
// =============================================================================
// Combinational. `b` is sign-extended to A_BITS+1 bits, the sum is formed in
// A_BITS+1 bits (it cannot overflow there because B_BITS <= A_BITS) and then
// clamped to the signed A_BITS range. Used once per lane for the weight add
// (INTEGRATE) and the bias add (UPDATE).
`default_nettype none

module snn_sat_add #(
    // Width of `a` and of the result, in bits; 2..32.
    parameter integer A_BITS = 16,
    // Width of `b`, in bits; 1..A_BITS.
    parameter integer B_BITS = 8
) (
    input  wire signed [A_BITS-1:0] a,          // addend, signed A_BITS
    input  wire signed [B_BITS-1:0] b,          // addend, signed B_BITS
    output wire signed [A_BITS-1:0] y           // sat_A(a + b)
);

    localparam [A_BITS-1:0] MAX_POS = {1'b0, {(A_BITS-1){1'b1}}};  // 2^(A-1)-1
    localparam [A_BITS-1:0] MAX_NEG = {1'b1, {(A_BITS-1){1'b0}}};  // -2^(A-1)

    wire signed [A_BITS:0] a_x = {a[A_BITS-1], a};
    wire signed [A_BITS:0] b_x = {{(A_BITS+1-B_BITS){b[B_BITS-1]}}, b};
    wire signed [A_BITS:0] sum = a_x + b_x;

    // The two top bits differ exactly when the sum left the A_BITS range;
    // the top bit then gives the direction.
    wire overflow = sum[A_BITS] ^ sum[A_BITS-1];
    wire [A_BITS-1:0] clamped = sum[A_BITS] ? MAX_NEG : MAX_POS;

    assign y = overflow ? clamped : sum[A_BITS-1:0];

endmodule

`default_nettype wire
