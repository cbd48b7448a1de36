// =============================================================================
// snn_neuron_update.v -- neuron-update unit of the UPDATE phase (P lanes)
// =============================================================================
// Combinational, one lane group per cycle (chip-spec §2.2 step 3), per lane:
//   v = sat_V(v + bias)                      bias add, saturating to V_BITS
//   v = v - (v >>> leak_shift)               only if leak_shift > 0; cannot overflow
//   spike = fire & lane_en & (v >= threshold)
//   v = v - threshold (subtract) | 0 (zero)  if spike; cannot overflow
// Lanes with `lane_en` low keep their membrane and never spike. The lanes are
// one loop in one always block so an event-driven simulator updates the
// whole word once.
`default_nettype none

module snn_neuron_update #(
    // Parallel lanes (P); >= 1.
    parameter integer LANES = 16,
    // Membrane, bias and threshold width in bits; 4..32.
    parameter integer V_BITS = 16,
    // Width of the leak_shift register in bits; 2^LS_W >= V_BITS.
    parameter integer LS_W = 4
) (
    input  wire [LANES*V_BITS-1:0] v_in,        // membranes after INTEGRATE
    input  wire [LANES*V_BITS-1:0] bias,        // biases of the group
    input  wire [LANES-1:0]        lane_en,     // lane holds a neuron in use
    // core registers -----------------------------------------------------------
    input  wire [V_BITS-1:0]       threshold,   // 0 .. 2^(V_BITS-1)-1
    input  wire [LS_W-1:0]         leak_shift,  // 0 .. V_BITS-1, 0 = no leak
    input  wire                    fire,        // 1 spiking neurons, 0 membrane readout
    input  wire                    reset_zero,  // 1 reset to 0, 0 subtract threshold
    // results --------------------------------------------------------------------
    output reg  [LANES*V_BITS-1:0] v_out,       // end-of-timestep membranes
    output reg  [LANES-1:0]        spikes       // lane fired
);

    localparam [V_BITS-1:0] V_MAX = {1'b0, {(V_BITS-1){1'b1}}};   //  2^(V-1)-1
    localparam [V_BITS-1:0] V_MIN = {1'b1, {(V_BITS-1){1'b0}}};   // -2^(V-1)

    wire signed [V_BITS-1:0] th = threshold;

    integer l;
    reg signed [V_BITS-1:0] v;      // membrane in
    reg signed [V_BITS-1:0] b;      // bias
    reg        [V_BITS:0]   sum;    // v + bias with one guard bit
    reg signed [V_BITS-1:0] v_b;    // after the bias add
    reg signed [V_BITS-1:0] v_l;    // after the leak
    reg                     spk;

    always @* begin
        v_out  = v_in;
        spikes = {LANES{1'b0}};
        for (l = 0; l < LANES; l = l + 1) begin
            v   = v_in[l*V_BITS +: V_BITS];
            b   = bias[l*V_BITS +: V_BITS];
            sum = {v[V_BITS-1], v} + {b[V_BITS-1], b};
            if (sum[V_BITS] != sum[V_BITS-1])               // left the V_BITS range
                v_b = sum[V_BITS] ? V_MIN : V_MAX;
            else
                v_b = sum[V_BITS-1:0];
            // >>> on a signed operand is the arithmetic shift of the spec
            // (floor division by 2^k); v - (v >>> 0) would be 0, hence the test.
            v_l = (leak_shift == {LS_W{1'b0}}) ? v_b : v_b - (v_b >>> leak_shift);
            spk = fire && lane_en[l] && (v_l >= th);
            if (lane_en[l]) begin
                spikes[l] = spk;
                if (spk)
                    v_out[l*V_BITS +: V_BITS] = reset_zero ? {V_BITS{1'b0}} : v_l - th;
                else
                    v_out[l*V_BITS +: V_BITS] = v_l;
            end
        end
    end

endmodule

`default_nettype wire
