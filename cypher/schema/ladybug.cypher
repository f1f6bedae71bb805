// LadybugDB 0.22 schema for the AMX circuit store. Idempotent: every statement uses IF NOT EXISTS.
// Typed node and relationship tables; the primary keys are the deterministic ids. `index` is a reserved
// word in LadybugDB, so it is back-quoted here and in every query that reads it.
CREATE NODE TABLE IF NOT EXISTS Class(name STRING, `index` INT64, PRIMARY KEY(name));
CREATE NODE TABLE IF NOT EXISTS Image(id STRING, path STRING, class STRING, class_index INT64, predicted STRING, predicted_index INT64, confidence DOUBLE, agrees BOOLEAN, metrics STRING, original_jpeg BLOB, mask_png BLOB, explanation_jpeg BLOB, PRIMARY KEY(id));
CREATE NODE TABLE IF NOT EXISTS Circuit(id STRING, image_id STRING, class STRING, kind STRING, model STRING, config STRING, layers STRING[], mask_area DOUBLE, confidence DOUBLE, n_nodes INT64, n_edges INT64, metrics STRING, PRIMARY KEY(id));
CREATE NODE TABLE IF NOT EXISTS Act(id STRING, circuit_id STRING, image_id STRING, class STRING, kind STRING, model STRING, cid STRING, layer STRING, channel INT64, activation DOUBLE, rank INT64, peak DOUBLE, peak_ratio DOUBLE, peak_row INT64, peak_col INT64, grid_h INT64, grid_w INT64, patch_jpeg BLOB, PRIMARY KEY(id));
CREATE NODE TABLE IF NOT EXISTS Channel(id STRING, cid STRING, model STRING, layer STRING, channel INT64, PRIMARY KEY(id));
CREATE NODE TABLE IF NOT EXISTS AggState(class STRING, stale BOOLEAN, PRIMARY KEY(class));
CREATE REL TABLE IF NOT EXISTS OF_CLASS(FROM Image TO Class);
CREATE REL TABLE IF NOT EXISTS HAS_CIRCUIT(FROM Image TO Circuit);
CREATE REL TABLE IF NOT EXISTS HAS(FROM Circuit TO Act);
CREATE REL TABLE IF NOT EXISTS FLOW(FROM Act TO Act, weight DOUBLE);
CREATE REL TABLE IF NOT EXISTS LOGIT(FROM Act TO Class, weight DOUBLE);
CREATE REL TABLE IF NOT EXISTS AGG(FROM Channel TO Channel, class STRING, kind STRING, n INT64, sum_w DOUBLE);
// The channel atlas's columns on Act (where the channel peaks, the input patch there), added to a store
// written before they existed; a no-op on a new store.
ALTER TABLE Act ADD IF NOT EXISTS peak DOUBLE;
ALTER TABLE Act ADD IF NOT EXISTS peak_ratio DOUBLE;
ALTER TABLE Act ADD IF NOT EXISTS peak_row INT64;
ALTER TABLE Act ADD IF NOT EXISTS peak_col INT64;
ALTER TABLE Act ADD IF NOT EXISTS grid_h INT64;
ALTER TABLE Act ADD IF NOT EXISTS grid_w INT64;
ALTER TABLE Act ADD IF NOT EXISTS patch_jpeg BLOB;
