/*
 * disasm.c - prints a compiled program (riskctl disasm): the input slots
 * with their paths, then every node in id order (operands always have
 * smaller ids), then each rule's root. Shared nodes are marked with the
 * number of parents; that is where sub-expressions are evaluated once.
 */
#include "rules_int.h"

#include <string.h>

static const char *const names[] = {
#define RULES_OP_NAME(name, arity, doc) #name,
	RULES_OPCODES(RULES_OP_NAME)
#undef RULES_OP_NAME
};

const char *op_name(int op)
{
	return op >= 0 && op < OP__COUNT ? names[op] : "?";
}

static void print_rv(FILE *out, const rv *v)
{
	switch (v->t) {
	case RV_NULL: fputs("null", out); break;
	case RV_BOOL: fputs(v->b ? "true" : "false", out); break;
	case RV_NUM: fprintf(out, "%.17g", v->n); break;
	case RV_STR: fprintf(out, "\"%.*s\"", (int)v->len, v->s); break;
	case RV_LIST:
		fputc('[', out);
		for (uint32_t i = 0; i < v->len; i++) {
			if (i)
				fputs(", ", out);
			print_rv(out, &v->items[i]);
		}
		fputc(']', out);
		break;
	default: fputs(rv_type_name(v->t), out); break;
	}
}


static void slot_name(const rules_set *s, int slot, char *buf, size_t n)
{
	static const char *const roots[] = {"event", "features", "velocity"};
	for (int r = 0; r < 3; r++) {
		const ptrie *t = s->trie[r];
		for (int i = 0; t && i < s->ntrie[r]; i++) {
			if (t[i].slot != slot)
				continue;
			/* Walk up by searching parents. */
			int chain[RULES_MAX_DEPTH + 2], depth = 0, at = i;
			while (at > 0 && depth < RULES_MAX_DEPTH + 1) {
				chain[depth++] = at;
				int parent = -1;
				for (int p = 0; p < s->ntrie[r] && parent < 0; p++)
					for (int c = t[p].first_child; c >= 0;
					     c = t[c].next)
						if (c == at)
							parent = p;
				at = parent;
			}
			size_t o = (size_t)snprintf(buf, n, "%s", roots[r]);
			while (depth-- > 0 && o < n) {
				const ptrie *e = &t[chain[depth]];
				if (e->key)
					o += (size_t)snprintf(buf + o, n - o, ".%s",
							      e->key);
				else
					o += (size_t)snprintf(buf + o, n - o, "[%d]",
							      e->index);
			}
			return;
		}
	}
	snprintf(buf, n, "?");
}

void rules_disasm(const rules_set *s, FILE *out)
{
	char path[512];
	fprintf(out, "; scenario %s: %d rules, %u nodes, %u shared, %d slots\n",
		s->def->scenario, s->nrules, s->nnodes, s->nmemo, s->nslots);
	for (int i = 0; i < s->nslots; i++) {
		slot_name(s, i, path, sizeof(path));
		fprintf(out, "slot %-4d %s\n", i, path);
	}
	for (uint32_t i = 0; i < s->nnodes; i++) {
		const node *n = &s->nodes[i];
		if (!n->refs)
			continue;  /* folded away or disabled */
		fprintf(out, "n%-5u %-12s", i, op_name(n->op));
		switch (n->op) {
		case OP_CONST:
			fputc(' ', out);
			print_rv(out, &n->k);
			break;
		case OP_SLOT:
			slot_name(s, (int)n->a, path, sizeof(path));
			fprintf(out, " slot %u (%s)", n->a, path);
			break;
		case OP_LT_SK: case OP_LE_SK: case OP_GT_SK: case OP_GE_SK:
		case OP_EQ_SK: case OP_NE_SK:
			slot_name(s, (int)n->a, path, sizeof(path));
			fprintf(out, " slot %u (%s), ", n->a, path);
			print_rv(out, &n->k);
			break;
		case OP_IN_SET: case OP_LIST_REF:
			if (n->op == OP_IN_SET)
				fprintf(out, " n%u,", n->a);
			fprintf(out, " set of %zu", strset_count(n->x.set));
			break;
		case OP_MATCHES:
			fprintf(out, " n%u, /%s/", n->a, fn_regex_pattern(n->x.re));
			break;
		case OP_IN_CIDR:
			fprintf(out, " n%u, %zu prefixes", n->a,
				fn_cidr_set_count(n->x.cidr));
			break;
		default:
			if (n->n) {
				for (uint32_t k = 0; k < n->n; k++)
					fprintf(out, "%s n%u", k ? "," : "",
						s->args[n->args + k]);
			} else {
				if (n->a != UINT32_MAX)
					fprintf(out, " n%u", n->a);
				if (n->b != UINT32_MAX)
					fprintf(out, ", n%u", n->b);
			}
		}
		if (n->refs > 1)
			fprintf(out, "   ; shared by %u%s", n->refs,
				n->memo ? ", evaluated once per event" : "");
		fputc('\n', out);
	}
	for (int r = 0; r < s->nrules; r++) {
		const rules_rule_def *rd = &s->def->rules[r];
		if (s->rules[r].root == UINT32_MAX)
			fprintf(out, "rule %-24s disabled\n", rd->id);
		else
			fprintf(out, "rule %-24s n%u  %s score %d%s%s\n", rd->id,
				s->rules[r].root, rules_mode_name(rd->mode),
				rd->score, rd->action ? " action " : "",
				rd->action ? rules_action_name(rd->action) : "");
	}
}
