/*
 * score.h - the scoring pipeline's shared types, private to service/:
 * what the fetch stage hands the evaluator (features, velocity and where
 * they came from) and the writer of one result's JSON fields. Used by
 * handlers_score.c (the pipeline) and result_json.c (the writer).
 */
#ifndef SVC_SCORE_H
#define SVC_SCORE_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/jw.h"
#include "../rules/rules.h"
#include "data.h"

struct cJSON;

/* What the fetch stage found for one event (data.h). */
typedef svc_fetch svc_inputs;

/*
 * Writes the decision fields of SPEC §6 for res into the object open in
 * w: decision, score, decided_by, reasons, shadow, degraded (with
 * degraded_reasons), region (NULL writes null) and, with explain, the
 * per-rule trace with the inputs each rule read.
 */
void svc_write_result(jw *w, const rules_set *set, const rules_result *res,
		      const svc_inputs *in, const char *region, bool explain);

#endif
