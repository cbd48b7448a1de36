// =============================================================================
// snn_exit_unit.v -- early-exit unit on the host side of the output cores (chip-spec §1.4)
// =============================================================================
// Keeps one accumulator per output (K = n_out of them, acc_bits = V_BITS + 13,
// signed) and runs once per timestep, in the chip's EXIT phase, the rule of
// the `rule` register:
//
//   go (sampled while idle, rule != none)      cycle 0; counters and top 1/2 start over
//   PASS1  K cycles     output o = 0..K-1, one per cycle: rd_index = o, the
//                       chip answers rd_y = y[o] in the same cycle (membrane
//                       or 0/1 spike); acc[o] += y[o]; top 1 (lowest index on
//                       ties) and top 2 of the new values
//   PASS2  K cycles     (confidence, entropy) stage A for output o: d = top1 - acc[o],
//                       dsat = min(d, 2^24-1), k = min(95, (dsat * gain_t) >> 16);
//                       stage B (one cycle later) for output o-1: e = EXP_LUT[k],
//                       Z += e, W += e * k (entropy)
//   DRAIN  1 cycle      stage B of output K-1
//   LZ     1 cycle      (entropy) L_Z = (p - 16) * 177 + LN_LUT[(Z >> (p - 6)) - 64], p = floor(log2 Z)
//   DEC    1 cycle      the decision, `last` high, `exit` valid:
//                       margin      top1 - top2 >= threshold (M)
//                       confidence  Z < threshold (z_limit)
//                       entropy     Z * L_Z + 32 * W < threshold (theta) * Z
//
// so the phase takes exit_cycles(rule, K) cycles: margin K + 1, confidence
// 2K + 2, entropy 2K + 3. The activity counters (chip-spec §1.4: cycles,
// acc_updates, multiplies, lut_reads) count what the phase does: every busy
// cycle; one accumulator add per PASS1 cycle; dsat * gain_t per PASS2 cycle
// and, for entropy, e * k per stage B plus Z * L_Z and theta * Z in DEC; one
// EXP_LUT read per stage B and, for entropy, one LN_LUT read in LZ. `clr`
// clears them (start of a timestep); `clear` clears the accumulators and the
// decision (start of an image). The lookup tables are generated from
// hwsim/exit_unit.py by rtl/gen_exit_luts.py (block marked below).
`default_nettype none

module snn_exit_unit #(
    // Signed membrane width of the output cores in bits; 4..32 (CoreConfig.v_bits).
    parameter integer V_BITS = 16,
    // Accumulators (largest K the unit serves); 2..65535.
    parameter integer MAX_OUTPUTS = 64
) (
    input  wire              clk,             // clock, rising edge
    input  wire              rst_n,           // synchronous reset, active low (idle; accumulators: `clear`)
    // commands (only while idle) ---------------------------------------------------------
    input  wire              clear,           // start of an image: every accumulator and the decision to 0
    input  wire              clr,             // start of a timestep: the activity counters to 0
    input  wire              go,              // run the EXIT phase (sampled while idle; ignored under rule none)
    // registers (held by the chip, stable while busy) --------------------------------------
    input  wire [1:0]        rule,            // 0 none, 1 margin, 2 confidence, 3 entropy
    input  wire [KW-1:0]     n_out,           // K, the number of outputs: 2..MAX_OUTPUTS
    input  wire [31:0]       threshold,       // M (margin), z_limit (confidence), theta (entropy)
    input  wire [31:0]       gain_t,          // per timestep: (gain_num + (n >> 1)) / n, n = timesteps so far
    // output values (pass 1) -------------------------------------------------------------
    output wire              rd_en,           // a PASS1 cycle: rd_y is read
    output wire [IX_W-1:0]   rd_index,        // output o read this cycle
    input  wire [V_BITS-1:0] rd_y,            // y[o] (signed; a spike is 0/1), combinational from rd_index
    // control ------------------------------------------------------------------------------
    output wire              busy,            // cycles 1 .. exit_cycles of the EXIT phase
    output wire              last,            // the decision cycle, the last of the phase
    output wire              exit,            // the decision: in the last cycle, then held until the next one / clear
    // status (valid after the phase; z_sum, w_sum, l_z only for the rules that compute them) ---
    output wire [IX_W-1:0]   top_index,       // i1: lowest o with the largest acc[o] (the prediction)
    output wire [ACC_W-1:0]  top1,            // acc[i1] (signed)
    output wire [ACC_W-1:0]  top2,            // largest acc[o] over o != i1 (signed)
    output wire [Z_W-1:0]    z_sum,           // Z = sum_o EXP_LUT[k_o]
    output wire [W_W-1:0]    w_sum,           // W = sum_o EXP_LUT[k_o] * k_o (entropy)
    output wire [LZ_W-1:0]   l_z,             // L_Z = ln(Z / 2^16) in 1/256 nat (entropy)
    input  wire [IX_W-1:0]   acc_index,       // accumulator to read
    output wire [ACC_W-1:0]  acc_value,       // acc[acc_index] (signed, combinational)
    output reg  [31:0]       cnt_cycles,      // busy cycles since clr
    output reg  [31:0]       cnt_acc_updates, // accumulator adds since clr
    output reg  [31:0]       cnt_multiplies,  // multiplies since clr
    output reg  [31:0]       cnt_lut_reads    // EXP_LUT and LN_LUT reads since clr
);

    // ---------------------------------------------------------------- widths
    localparam integer ACC_W = V_BITS + 13;                               // exact for T <= 4096
    localparam integer IX_W  = (MAX_OUTPUTS > 1) ? $clog2(MAX_OUTPUTS) : 1; // output index
    localparam integer KW    = $clog2(MAX_OUTPUTS + 1);                   // K
    localparam integer Z_W   = 17 + IX_W;                                 // Z <= K * 2^16
    localparam integer W_W   = 18 + IX_W;                                 // W <= K * max_k EXP_LUT[k] * k < K * 2^18
    localparam integer LZ_W  = 12;                                        // L_Z <= (Z_W - 17) * 177 + 175
    localparam integer CMP_W = 32 + Z_W + 1;                              // entropy compare

    localparam [2:0] S_IDLE  = 3'd0;
    localparam [2:0] S_PASS1 = 3'd1;
    localparam [2:0] S_PASS2 = 3'd2;
    localparam [2:0] S_DRAIN = 3'd3;
    localparam [2:0] S_LZ    = 3'd4;
    localparam [2:0] S_DEC   = 3'd5;

    localparam [1:0] R_NONE    = 2'd0;
    localparam [1:0] R_MARGIN  = 2'd1;
    localparam [1:0] R_ENTROPY = 2'd3;

    localparam [ACC_W-1:0] ACC_ZERO = 0;
    localparam [ACC_W-1:0] ACC_MIN  = {1'b1, {(ACC_W-1){1'b0}}};         // below every accumulator value
    localparam [63:0]      DSAT_MAX = 64'd16777215;                       // 2^24 - 1
    localparam [39:0]      K_MAX    = 40'd95;                             // last EXP_LUT index

    // ---- BEGIN GENERATED by rtl/gen_exit_luts.py from hwsim.exit_unit; do not edit by hand
    localparam [8:0] LN2_Q8 = 9'd177;  // round(256 * ln 2)
    // EXP_LUT[k] = round(2^16 * exp(-k / 8)), k = 0..95 (unsigned, 17 bits)
    function [16:0] exp_lut;
        input [6:0] index;
        begin
            case (index)
                7'd0: exp_lut = 17'd65536;
                7'd1: exp_lut = 17'd57835;
                7'd2: exp_lut = 17'd51039;
                7'd3: exp_lut = 17'd45042;
                7'd4: exp_lut = 17'd39750;
                7'd5: exp_lut = 17'd35079;
                7'd6: exp_lut = 17'd30957;
                7'd7: exp_lut = 17'd27319;
                7'd8: exp_lut = 17'd24109;
                7'd9: exp_lut = 17'd21276;
                7'd10: exp_lut = 17'd18776;
                7'd11: exp_lut = 17'd16570;
                7'd12: exp_lut = 17'd14623;
                7'd13: exp_lut = 17'd12905;
                7'd14: exp_lut = 17'd11388;
                7'd15: exp_lut = 17'd10050;
                7'd16: exp_lut = 17'd8869;
                7'd17: exp_lut = 17'd7827;
                7'd18: exp_lut = 17'd6907;
                7'd19: exp_lut = 17'd6096;
                7'd20: exp_lut = 17'd5380;
                7'd21: exp_lut = 17'd4747;
                7'd22: exp_lut = 17'd4190;
                7'd23: exp_lut = 17'd3697;
                7'd24: exp_lut = 17'd3263;
                7'd25: exp_lut = 17'd2879;
                7'd26: exp_lut = 17'd2541;
                7'd27: exp_lut = 17'd2243;
                7'd28: exp_lut = 17'd1979;
                7'd29: exp_lut = 17'd1746;
                7'd30: exp_lut = 17'd1541;
                7'd31: exp_lut = 17'd1360;
                7'd32: exp_lut = 17'd1200;
                7'd33: exp_lut = 17'd1059;
                7'd34: exp_lut = 17'd935;
                7'd35: exp_lut = 17'd825;
                7'd36: exp_lut = 17'd728;
                7'd37: exp_lut = 17'd642;
                7'd38: exp_lut = 17'd567;
                7'd39: exp_lut = 17'd500;
                7'd40: exp_lut = 17'd442;
                7'd41: exp_lut = 17'd390;
                7'd42: exp_lut = 17'd344;
                7'd43: exp_lut = 17'd303;
                7'd44: exp_lut = 17'd268;
                7'd45: exp_lut = 17'd236;
                7'd46: exp_lut = 17'd209;
                7'd47: exp_lut = 17'd184;
                7'd48: exp_lut = 17'd162;
                7'd49: exp_lut = 17'd143;
                7'd50: exp_lut = 17'd127;
                7'd51: exp_lut = 17'd112;
                7'd52: exp_lut = 17'd99;
                7'd53: exp_lut = 17'd87;
                7'd54: exp_lut = 17'd77;
                7'd55: exp_lut = 17'd68;
                7'd56: exp_lut = 17'd60;
                7'd57: exp_lut = 17'd53;
                7'd58: exp_lut = 17'd47;
                7'd59: exp_lut = 17'd41;
                7'd60: exp_lut = 17'd36;
                7'd61: exp_lut = 17'd32;
                7'd62: exp_lut = 17'd28;
                7'd63: exp_lut = 17'd25;
                7'd64: exp_lut = 17'd22;
                7'd65: exp_lut = 17'd19;
                7'd66: exp_lut = 17'd17;
                7'd67: exp_lut = 17'd15;
                7'd68: exp_lut = 17'd13;
                7'd69: exp_lut = 17'd12;
                7'd70: exp_lut = 17'd10;
                7'd71: exp_lut = 17'd9;
                7'd72: exp_lut = 17'd8;
                7'd73: exp_lut = 17'd7;
                7'd74: exp_lut = 17'd6;
                7'd75: exp_lut = 17'd6;
                7'd76: exp_lut = 17'd5;
                7'd77: exp_lut = 17'd4;
                7'd78: exp_lut = 17'd4;
                7'd79: exp_lut = 17'd3;
                7'd80: exp_lut = 17'd3;
                7'd81: exp_lut = 17'd3;
                7'd82: exp_lut = 17'd2;
                7'd83: exp_lut = 17'd2;
                7'd84: exp_lut = 17'd2;
                7'd85: exp_lut = 17'd2;
                7'd86: exp_lut = 17'd1;
                7'd87: exp_lut = 17'd1;
                7'd88: exp_lut = 17'd1;
                7'd89: exp_lut = 17'd1;
                7'd90: exp_lut = 17'd1;
                7'd91: exp_lut = 17'd1;
                7'd92: exp_lut = 17'd1;
                7'd93: exp_lut = 17'd1;
                7'd94: exp_lut = 17'd1;
                default: exp_lut = 17'd0;  // index 95
            endcase
        end
    endfunction
    // LN_LUT[i] = round(256 * ln(1 + i / 64)), i = 0..63 (unsigned, 8 bits)
    function [7:0] ln_lut;
        input [5:0] index;
        begin
            case (index)
                6'd0: ln_lut = 8'd0;
                6'd1: ln_lut = 8'd4;
                6'd2: ln_lut = 8'd8;
                6'd3: ln_lut = 8'd12;
                6'd4: ln_lut = 8'd16;
                6'd5: ln_lut = 8'd19;
                6'd6: ln_lut = 8'd23;
                6'd7: ln_lut = 8'd27;
                6'd8: ln_lut = 8'd30;
                6'd9: ln_lut = 8'd34;
                6'd10: ln_lut = 8'd37;
                6'd11: ln_lut = 8'd41;
                6'd12: ln_lut = 8'd44;
                6'd13: ln_lut = 8'd47;
                6'd14: ln_lut = 8'd51;
                6'd15: ln_lut = 8'd54;
                6'd16: ln_lut = 8'd57;
                6'd17: ln_lut = 8'd60;
                6'd18: ln_lut = 8'd63;
                6'd19: ln_lut = 8'd67;
                6'd20: ln_lut = 8'd70;
                6'd21: ln_lut = 8'd73;
                6'd22: ln_lut = 8'd76;
                6'd23: ln_lut = 8'd79;
                6'd24: ln_lut = 8'd82;
                6'd25: ln_lut = 8'd84;
                6'd26: ln_lut = 8'd87;
                6'd27: ln_lut = 8'd90;
                6'd28: ln_lut = 8'd93;
                6'd29: ln_lut = 8'd96;
                6'd30: ln_lut = 8'd98;
                6'd31: ln_lut = 8'd101;
                6'd32: ln_lut = 8'd104;
                6'd33: ln_lut = 8'd106;
                6'd34: ln_lut = 8'd109;
                6'd35: ln_lut = 8'd112;
                6'd36: ln_lut = 8'd114;
                6'd37: ln_lut = 8'd117;
                6'd38: ln_lut = 8'd119;
                6'd39: ln_lut = 8'd122;
                6'd40: ln_lut = 8'd124;
                6'd41: ln_lut = 8'd127;
                6'd42: ln_lut = 8'd129;
                6'd43: ln_lut = 8'd132;
                6'd44: ln_lut = 8'd134;
                6'd45: ln_lut = 8'd136;
                6'd46: ln_lut = 8'd139;
                6'd47: ln_lut = 8'd141;
                6'd48: ln_lut = 8'd143;
                6'd49: ln_lut = 8'd146;
                6'd50: ln_lut = 8'd148;
                6'd51: ln_lut = 8'd150;
                6'd52: ln_lut = 8'd152;
                6'd53: ln_lut = 8'd154;
                6'd54: ln_lut = 8'd157;
                6'd55: ln_lut = 8'd159;
                6'd56: ln_lut = 8'd161;
                6'd57: ln_lut = 8'd163;
                6'd58: ln_lut = 8'd165;
                6'd59: ln_lut = 8'd167;
                6'd60: ln_lut = 8'd169;
                6'd61: ln_lut = 8'd171;
                6'd62: ln_lut = 8'd173;
                default: ln_lut = 8'd175;  // index 63
            endcase
        end
    endfunction
    // ---- END GENERATED

    // ------------------------------------------------------------------ state
    reg [2:0]        state;
    reg [IX_W-1:0]   idx;                       // output of PASS1 / stage A of PASS2
    reg [ACC_W-1:0]  acc [0:MAX_OUTPUTS-1];
    reg [ACC_W-1:0]  t1, t2;                    // top 1, top 2 (signed)
    reg [IX_W-1:0]   i1;
    reg [6:0]        k_q;                       // stage A -> B
    reg              kv_q;                      // k_q holds an output's index
    reg [Z_W-1:0]    z;
    reg [W_W-1:0]    w;
    reg [LZ_W-1:0]   lz;
    reg              exit_q;

    wire is_entropy = (rule == R_ENTROPY);
    wire [31:0] idx_32  = {{(32-IX_W){1'b0}}, idx};
    wire [31:0] nout_32 = {{(32-KW){1'b0}}, n_out};
    wire        idx_last = (idx_32 + 32'd1 == nout_32);
    wire        idx_first = (idx_32 == 32'd0);

    // ------------------------------------------------- pass 1: accumulate, top 1/2
    wire [ACC_W-1:0] acc_cur = acc[idx];
    wire [ACC_W-1:0] y_ext   = {{13{rd_y[V_BITS-1]}}, rd_y};
    wire [ACC_W-1:0] acc_new = acc_cur + y_ext;
    wire             gt1     = $signed(acc_new) > $signed(t1);
    wire             gt2     = $signed(acc_new) > $signed(t2);

    // ----------------------------------------- pass 2, stage A: d, dsat, k of acc[idx]
    wire [ACC_W-1:0] d      = t1 - acc_cur;     // >= 0: t1 is the largest
    wire [63:0]      d_64   = {{(64-ACC_W){1'b0}}, d};
    wire [23:0]      dsat   = (d_64 > DSAT_MAX) ? DSAT_MAX[23:0] : d_64[23:0];
    wire [55:0]      prod   = {32'd0, dsat} * {24'd0, gain_t};
    wire [39:0]      k_wide = prod[55:16];
    wire [6:0]       k_new  = (k_wide > K_MAX) ? K_MAX[6:0] : k_wide[6:0];

    // ------------------------------------------------ pass 2, stage B: EXP_LUT, sums
    wire [16:0]      e_val  = exp_lut(k_q);
    wire [23:0]      ek     = {7'd0, e_val} * {17'd0, k_q};   // < 2^18 (k e^(-k/8) peaks at k = 8)

    // ---------------------------------------------------- L_Z: leading one of Z
    reg  [5:0] p16;                             // p - 16 (Z >= 2^16 always: acc[i1] gives k = 0)
    integer b;
    always @* begin
        p16 = 6'd0;
        for (b = 17; b < Z_W; b = b + 1)
            if (z[b])
                p16 = b[5:0] - 6'd16;
    end
    wire [Z_W-1:0]  z_shift = z >> (p16 + 6'd10);             // Z >> (p - 6): 64 .. 127
    wire [LZ_W-1:0] lz_new  = {6'd0, p16} * {3'd0, LN2_Q8} + {4'd0, ln_lut(z_shift[5:0])};

    // -------------------------------------------------------------- decision
    wire [ACC_W-1:0] margin   = t1 - t2;       // >= 0
    wire [63:0]      margin64 = {{(64-ACC_W){1'b0}}, margin};
    wire [63:0]      z_64     = {{(64-Z_W){1'b0}}, z};
    wire [CMP_W-1:0] ent_lhs  = {{(CMP_W-Z_W){1'b0}}, z} * {{(CMP_W-LZ_W){1'b0}}, lz}
                              + {{(CMP_W-W_W-5){1'b0}}, w, 5'd0};
    wire [CMP_W-1:0] ent_rhs  = {{(CMP_W-32){1'b0}}, threshold} * {{(CMP_W-Z_W){1'b0}}, z};
    reg              decision;
    always @* begin
        case (rule)
            R_MARGIN:  decision = (margin64 >= {32'd0, threshold});
            R_ENTROPY: decision = (ent_lhs < ent_rhs);
            default:   decision = (z_64 < {32'd0, threshold});     // confidence
        endcase
    end

    // ------------------------------------------------------------------ FSM
    integer o;
    always @(posedge clk) begin
        if (!rst_n) begin
            state  <= S_IDLE;
            idx    <= {IX_W{1'b0}};
            kv_q   <= 1'b0;
            exit_q <= 1'b0;
        end else begin
            kv_q <= (state == S_PASS2);
            k_q  <= k_new;
            if (kv_q) begin
                z <= z + {{(Z_W-17){1'b0}}, e_val};
                if (is_entropy)
                    w <= w + {{(W_W-18){1'b0}}, ek[17:0]};
            end
            case (state)
                S_IDLE:
                    if (clear) begin
                        exit_q <= 1'b0;
                        for (o = 0; o < MAX_OUTPUTS; o = o + 1)
                            acc[o] <= ACC_ZERO;
                    end else if (go && rule != R_NONE) begin
                        state <= S_PASS1;
                        idx   <= {IX_W{1'b0}};
                        z     <= {Z_W{1'b0}};
                        w     <= {W_W{1'b0}};
                    end
                S_PASS1: begin
                    acc[idx] <= acc_new;
                    // Output 0 starts top 1 (top 2 below every value); later ones move it only when
                    // strictly larger, so a tie keeps the lowest index.
                    if (idx_first || gt1) begin
                        t2 <= idx_first ? ACC_MIN : t1;
                        t1 <= acc_new;
                        i1 <= idx;
                    end else if (gt2) begin
                        t2 <= acc_new;
                    end
                    idx <= idx_last ? {IX_W{1'b0}} : idx + 1'b1;
                    if (idx_last)
                        state <= (rule == R_MARGIN) ? S_DEC : S_PASS2;
                end
                S_PASS2: begin
                    idx <= idx_last ? {IX_W{1'b0}} : idx + 1'b1;
                    if (idx_last)
                        state <= S_DRAIN;
                end
                S_DRAIN:
                    state <= is_entropy ? S_LZ : S_DEC;
                S_LZ: begin
                    lz    <= lz_new;
                    state <= S_DEC;
                end
                default: begin                      // S_DEC
                    exit_q <= decision;
                    state  <= S_IDLE;
                end
            endcase
        end
    end

    // ------------------------------------------------------------- counters
    wire        in_dec = (state == S_DEC);
    wire [31:0] mul_inc = {31'd0, state == S_PASS2} + {31'd0, kv_q && is_entropy}
                        + {30'd0, in_dec && is_entropy, 1'b0};
    wire [31:0] lut_inc = {31'd0, kv_q} + {31'd0, state == S_LZ};
    always @(posedge clk) begin
        if (!rst_n || clr) begin
            cnt_cycles      <= 32'd0;
            cnt_acc_updates <= 32'd0;
            cnt_multiplies  <= 32'd0;
            cnt_lut_reads   <= 32'd0;
        end else begin
            cnt_cycles      <= cnt_cycles + {31'd0, busy};
            cnt_acc_updates <= cnt_acc_updates + {31'd0, state == S_PASS1};
            cnt_multiplies  <= cnt_multiplies + mul_inc;
            cnt_lut_reads   <= cnt_lut_reads + lut_inc;
        end
    end

    // --------------------------------------------------------------- outputs
    assign busy      = (state != S_IDLE);
    assign last      = in_dec;
    assign exit      = in_dec ? decision : exit_q;
    assign rd_en     = (state == S_PASS1);
    assign rd_index  = idx;
    assign top_index = i1;
    assign top1      = t1;
    assign top2      = t2;
    assign z_sum     = z;
    assign w_sum     = w;
    assign l_z       = lz;
    assign acc_value = acc[acc_index];

    // Bits that are deliberately not used.
    wire _unused = &{1'b0, prod[15:0], d_64, z_shift, ek[23:18]};

endmodule

`default_nettype wire
