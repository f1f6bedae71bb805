// LadybugDB 0.22 schema for the AMX circuit store. Idempotent: every statement uses IF NOT EXISTS.
// Typed node and relationship tables; the primary keys are the deterministic ids. `index` is a reserved
// word in LadybugDB, so it is back-quoted here and in every query that reads it.
CREATE NODE TABLE IF NOT EXISTS Class(name STRING, `index` INT64, PRIMARY KEY(name));
CREATE NODE TABLE IF NOT EXISTS Image(id STRING, path STRING, class STRING, class_index INT64, predicted STRING, predicted_index INT64, confidence DOUBLE, agrees BOOLEAN, metrics STRING, original_jpeg BLOB, mask_png BLOB, explanation_jpeg BLOB, target_rank INT64, target_rank_e INT64, target_confidence DOUBLE, target_confidence_e DOUBLE, criterion STRING, status STRING, recognised BOOLEAN, PRIMARY KEY(id));
CREATE NODE TABLE IF NOT EXISTS Circuit(id STRING, image_id STRING, class STRING, kind STRING, model STRING, config STRING, layers STRING[], mask_area DOUBLE, confidence DOUBLE, n_nodes INT64, n_edges INT64, metrics STRING, recognised BOOLEAN, PRIMARY KEY(id));
CREATE NODE TABLE IF NOT EXISTS Act(id STRING, circuit_id STRING, image_id STRING, class STRING, kind STRING, model STRING, cid STRING, layer STRING, channel INT64, activation DOUBLE, rank INT64, peak DOUBLE, peak_ratio DOUBLE, peak_row INT64, peak_col INT64, grid_h INT64, grid_w INT64, patch_jpeg BLOB, recognised BOOLEAN, PRIMARY KEY(id));
CREATE NODE TABLE IF NOT EXISTS Channel(id STRING, cid STRING, model STRING, layer STRING, channel INT64, PRIMARY KEY(id));
CREATE NODE TABLE IF NOT EXISTS AggState(class STRING, stale BOOLEAN, version INT64, PRIMARY KEY(class));
CREATE NODE TABLE IF NOT EXISTS AggTotal(id STRING, class STRING, kind STRING, n INT64, n_all INT64, PRIMARY KEY(id));
CREATE REL TABLE IF NOT EXISTS OF_CLASS(FROM Image TO Class);
CREATE REL TABLE IF NOT EXISTS HAS_CIRCUIT(FROM Image TO Circuit);
CREATE REL TABLE IF NOT EXISTS HAS(FROM Circuit TO Act);
CREATE REL TABLE IF NOT EXISTS FLOW(FROM Act TO Act, weight DOUBLE);
CREATE REL TABLE IF NOT EXISTS LOGIT(FROM Act TO Class, weight DOUBLE);
CREATE REL TABLE IF NOT EXISTS CLASS_EDGE(FROM Class TO Channel, kind STRING, dst STRING, n INT64, sum_w DOUBLE, n_all INT64, sum_w_all DOUBLE);
CREATE REL TABLE IF NOT EXISTS CLASS_CHANNEL(FROM Class TO Channel, kind STRING, n INT64, sum_a DOUBLE, n_all INT64, sum_a_all DOUBLE);
CREATE REL TABLE IF NOT EXISTS CLASS_PATH(FROM Class TO Channel, kind STRING, scope STRING, via STRING, dst STRING, n INT64, sum_w DOUBLE);
// The channel atlas's columns on Act (where the channel peaks, the input patch there), added to a store
// written before they existed; a no-op on a new store.
ALTER TABLE Act ADD IF NOT EXISTS peak DOUBLE;
ALTER TABLE Act ADD IF NOT EXISTS peak_ratio DOUBLE;
ALTER TABLE Act ADD IF NOT EXISTS peak_row INT64;
ALTER TABLE Act ADD IF NOT EXISTS peak_col INT64;
ALTER TABLE Act ADD IF NOT EXISTS grid_h INT64;
ALTER TABLE Act ADD IF NOT EXISTS grid_w INT64;
ALTER TABLE Act ADD IF NOT EXISTS patch_jpeg BLOB;
// Issue 21's image status and the per-class summaries' second counts (cypher/summaries.py), added to a store
// written before they existed; its summaries are rebuilt by the next amx-ingest (their version is older).
ALTER TABLE Image ADD IF NOT EXISTS target_rank INT64;
ALTER TABLE Image ADD IF NOT EXISTS target_rank_e INT64;
ALTER TABLE Image ADD IF NOT EXISTS target_confidence DOUBLE;
ALTER TABLE Image ADD IF NOT EXISTS target_confidence_e DOUBLE;
ALTER TABLE Image ADD IF NOT EXISTS criterion STRING;
ALTER TABLE Image ADD IF NOT EXISTS status STRING;
ALTER TABLE Image ADD IF NOT EXISTS recognised BOOLEAN;
ALTER TABLE Circuit ADD IF NOT EXISTS recognised BOOLEAN;
ALTER TABLE Act ADD IF NOT EXISTS recognised BOOLEAN;
ALTER TABLE AggState ADD IF NOT EXISTS version INT64;
