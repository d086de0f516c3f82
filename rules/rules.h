/*
 * rules.h - public interface of the rule engine.
 *
 * Pipeline (one pass per file): ruleset.c parses a rule-set file into a
 * rules_def; lex.c/parse.c turn each `when` into an AST; resolve.c binds
 * paths, lists, features and velocity to slots and type-checks;
 * compile.c folds constants and shares identical sub-expressions across
 * rules in one DAG; eval.c evaluates it against an event without
 * allocating; decide.c turns matched rules into score and decision;
 * disasm.c prints the program. A compiled rules_set is immutable and
 * reference-counted so a server can swap it atomically while requests
 * still hold the old one.
 */
#ifndef RULES_H
#define RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/diag.h"
#include "../common/strset.h"

struct cJSON;

/* ---- limits (SPEC §3) ---- */
#define RULES_MAX_EXPR 4096       /* bytes of one `when` */
#define RULES_MAX_DEPTH 64        /* expression nesting */
#define RULES_MAX_RULES 100000    /* rules per version */
#define RULES_MAX_ID 64

enum rules_action { RULES_ACT_NONE = 0, RULES_ACT_APPROVE, RULES_ACT_REVIEW,
		    RULES_ACT_DECLINE };
enum rules_mode { RULES_MODE_ACTIVE = 0, RULES_MODE_SHADOW,
		  RULES_MODE_DISABLED };
enum rules_agg { RULES_AGG_COUNT = 0, RULES_AGG_SUM, RULES_AGG_DISTINCT };

const char *rules_action_name(int action);  /* "approve", ...; NULL for none */
const char *rules_mode_name(int mode);
const char *rules_agg_name(int agg);

/* ---- rule-set definition: the file format of SPEC §4 ---- */

typedef struct rules_rule_def {
	char *id;
	char *name;      /* may be NULL */
	char *reason;    /* may be NULL */
	char *when;
	int score;
	int action;      /* enum rules_action */
	int mode;        /* enum rules_mode */
	char **tags;
	int ntags;
	int line;        /* line of the rule object in the file, 0 if unknown */
} rules_rule_def;

typedef struct rules_feature_def {
	char *name;
	char *key;       /* key template, e.g. "{card.id}" */
	int64_t ttl_ms;  /* 0 = server default */
} rules_feature_def;

typedef struct rules_velocity_def {
	char *name;
	char *entity;    /* event path of the entity, e.g. "card.id" */
	char *window;    /* as written, e.g. "1h" */
	int64_t window_ms;
	int agg;         /* enum rules_agg */
	char *field;     /* event path for sum/distinct; NULL for count */
} rules_velocity_def;

typedef struct rules_list_def {
	char *name;
	char **items;
	int nitems;
} rules_list_def;

typedef struct rules_def {
	char *scenario;
	char *description;   /* may be NULL */
	int max_score;       /* default 100 */
	int th_review;       /* default 50 */
	int th_decline;      /* default 80 */
	rules_feature_def *features;
	int nfeatures;
	rules_velocity_def *velocity;
	int nvelocity;
	rules_list_def *lists;   /* lists carried by the file */
	int nlists;
	rules_rule_def *rules;
	int nrules;
} rules_def;

/*
 * Parses and validates a rule-set file (JSON text, len bytes). Returns
 * NULL with located diagnostics (JSON byte offset, or field path such as
 * "rules[2].score") on any error. Expressions are not compiled here.
 */
rules_def *rules_def_parse(const char *json, size_t len, rk_diags *d);
/* The canonical JSON of a definition (what `riskctl export` prints). */
struct cJSON *rules_def_to_json(const rules_def *def);
/* Canonical text; caller frees with rk_free. */
char *rules_def_to_text(const rules_def *def, bool pretty);
void rules_def_free(rules_def *def);

/* ---- lists: named string sets, changeable apart from versions ---- */

typedef struct rules_lists rules_lists;

rules_lists *rules_lists_new(void);
/* Ref-counted; _free drops one reference. */
rules_lists *rules_lists_ref(rules_lists *l);
void rules_lists_free(rules_lists *l);
/* Creates or replaces list `name`. Takes ownership of set. */
int rules_lists_put(rules_lists *l, const char *name, strset *set);
const strset *rules_lists_get(const rules_lists *l, const char *name);
/* Puts every list of def (replacing lists with the same name). */
int rules_lists_put_def(rules_lists *l, const rules_def *def);
int rules_lists_count(const rules_lists *l);
const char *rules_lists_name(const rules_lists *l, int i);

/* ---- compilation ---- */

typedef struct rules_set rules_set;

/*
 * Compiles def against lists (may be NULL: only the file's own lists).
 * Every `when` is lexed, parsed, resolved and compiled; all errors are
 * collected in d, each naming rule id, line and column inside `when`.
 * Returns a set with one reference, or NULL if anything failed. The set
 * copies what it needs: def and lists may be freed afterwards.
 */
rules_set *rules_compile(const rules_def *def, const rules_lists *lists,
			 rk_diags *d);
rules_set *rules_set_ref(rules_set *s);
void rules_set_free(rules_set *s);   /* drops one reference */

/* The definition the set was compiled from (owned by the set). */
const rules_def *rules_set_def(const rules_set *s);
int rules_set_nrules(const rules_set *s);
/* Memory the compiled program holds (bytes), excluding the def. */
size_t rules_set_footprint(const rules_set *s);
/* Version number recorded by the caller (the store), 0 if none. */
void rules_set_set_version(rules_set *s, int64_t version);
int64_t rules_set_version(const rules_set *s);

/* What a set reads beyond the event: the feature-fetch stage's contract. */
typedef struct rules_need {
	const char *group;   /* feature group name */
	const char *field;   /* field in the group */
	int slot;            /* input slot */
} rules_need;
int rules_set_nfeature_slots(const rules_set *s);
const rules_need *rules_set_feature_slot(const rules_set *s, int i);
int rules_set_nvelocity_slots(const rules_set *s);
/* Velocity slot i reads velocity definition index returned here. */
int rules_set_velocity_slot_def(const rules_set *s, int i);

/* Prints the compiled program (riskctl disasm). */
void rules_disasm(const rules_set *s, FILE *out);

/* ---- evaluation ---- */

/* A per-thread scratch frame for one set; reuse it for every event. */
typedef struct rules_frame rules_frame;

rules_frame *rules_frame_new(const rules_set *s);
void rules_frame_free(rules_frame *f);

typedef struct rules_input {
	const struct cJSON *event;     /* object; required */
	const struct cJSON *features;  /* {"group": {"field": v}}, or NULL */
	const struct cJSON *velocity;  /* {"name": number}, or NULL */
	bool explain;                  /* record per-rule detail */
} rules_input;

typedef struct rules_rule_trace {
	int rule;       /* index in def->rules */
	bool matched;
	bool error;     /* a runtime type problem stopped the rule */
} rules_rule_trace;

typedef struct rules_result {
	int decision;         /* RULES_ACT_APPROVE/REVIEW/DECLINE */
	int score;            /* clamped to [0, max_score] */
	int decided_by;       /* rule index, or -1 for "score" */
	const int *hits;      /* matched active rules, rule-set order */
	int nhits;
	const int *shadow;    /* matched shadow rules, rule-set order */
	int nshadow;
	const int *errors;    /* rules with a runtime type error */
	int nerrors;
	const rules_rule_trace *trace;  /* explain only: every evaluated rule */
	int ntrace;
} rules_result;

/*
 * Evaluates every enabled rule of s against in and decides. The arrays in
 * out point into f and stay valid until the next rules_eval on f.
 * Returns 0, or RK_EINVAL if the event is not a JSON object. Never
 * allocates once f is warm.
 */
int rules_eval(const rules_set *s, rules_frame *f, const rules_input *in,
	       rules_result *out);

/* Slots a rule reads (for explain): feature slot indices and velocity. */
int rules_rule_features(const rules_set *s, int rule, const int **slots);
int rules_rule_velocity(const rules_set *s, int rule, const int **slots);

/* Convenience: the score-response JSON of SPEC §6 for a result (fields
 * decision, score, decided_by, reasons, shadow), added to obj. */
int rules_result_to_json(const rules_set *s, const rules_result *r,
			 struct cJSON *obj);

#endif
