/*
 * opcodes.h - the evaluator's node kinds as one X-macro list feeding the
 * enum (rules_int.h), the disassembler's names (disasm.c) and the
 * function table (resolve.c). Each entry: OP(name, arity, doc) where
 * arity is the argument count or -1 for variadic.
 *
 * A compiled program is a DAG of nodes; a node's operands are other
 * nodes (a, b, or args[] for n-ary ones). Values are rv (rules_int.h).
 */
#ifndef RULES_OPCODES_H
#define RULES_OPCODES_H

#define RULES_OPCODES(OP)                                                     \
	OP(CONST, 0, "a constant value k")                                    \
	OP(SLOT, 0, "input slot a: an event path, feature or velocity")       \
	OP(AND, 2, "a and b: null is false, short-circuits")                 \
	OP(OR, 2, "a or b: null is false, short-circuits")                   \
	OP(NOT, 1, "not a: null is false")                                    \
	OP(EQ, 2, "a == b: false across types")                               \
	OP(NE, 2, "a != b: true across types")                                \
	OP(LT, 2, "a < b: numbers or strings, else null")                     \
	OP(LE, 2, "a <= b")                                                   \
	OP(GT, 2, "a > b")                                                    \
	OP(GE, 2, "a >= b")                                                   \
	OP(LT_SK, 0, "slot a < constant number k (fused)")                    \
	OP(LE_SK, 0, "slot a <= constant number k (fused)")                   \
	OP(GT_SK, 0, "slot a > constant number k (fused)")                    \
	OP(GE_SK, 0, "slot a >= constant number k (fused)")                   \
	OP(EQ_SK, 0, "slot a == constant k (fused)")                          \
	OP(NE_SK, 0, "slot a != constant k (fused)")                          \
	OP(ADD, 2, "a + b: numbers")                                          \
	OP(SUB, 2, "a - b")                                                   \
	OP(MUL, 2, "a * b")                                                   \
	OP(DIV, 2, "a / b: null on division by zero")                         \
	OP(MOD, 2, "a % b: null on division by zero")                         \
	OP(NEG, 1, "-a")                                                      \
	OP(IN_SET, 1, "a in a constant string set (list literal or @list)")  \
	OP(IN_ARGS, -1, "args[0] in [args[1..]]: a list literal of exprs")   \
	OP(IN_VAL, 2, "a in b where b is a list value (event array)")        \
	OP(INV, 1, "negation that keeps null: `not in`")                     \
	OP(ARRAY, -1, "a list literal used as a value")                       \
	OP(LIST_REF, 0, "an @list used as a value")                           \
	OP(LEN, 1, "len(s|list)")                                             \
	OP(LOWER, 1, "lower(s)")                                              \
	OP(UPPER, 1, "upper(s)")                                              \
	OP(STARTS_WITH, 2, "starts_with(s, p)")                               \
	OP(ENDS_WITH, 2, "ends_with(s, p)")                                   \
	OP(CONTAINS, 2, "contains(s, sub)")                                   \
	OP(MATCHES, 1, "matches(a, regex k.re)")                              \
	OP(ABS, 1, "abs(n)")                                                  \
	OP(MIN, -1, "min(a, b, ...)")                                         \
	OP(MAX, -1, "max(a, b, ...)")                                         \
	OP(ROUND, 1, "round(n): half away from zero")                         \
	OP(COALESCE, -1, "first non-null argument")                           \
	OP(EXISTS, 1, "a is present and not null")                            \
	OP(EMAIL_DOMAIN, 1, "lower-cased part after the last @")              \
	OP(IN_CIDR, 1, "a inside a constant prefix set k.cidr")              \
	OP(TIMESTAMP, 1, "RFC 3339 text or epoch number to epoch seconds")   \
	OP(DISTANCE_KM, 4, "haversine distance in km")

enum rules_op {
#define RULES_OP_ENUM(name, arity, doc) OP_##name,
	RULES_OPCODES(RULES_OP_ENUM)
#undef RULES_OP_ENUM
	OP__COUNT
};

#endif
