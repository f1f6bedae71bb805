// Neo4j 5.26 schema for the AMX circuit store. Idempotent: every statement uses IF NOT EXISTS.
// Uniqueness constraints on every id (they also give the id lookups used by the batched writes),
// indexes on the properties the named queries filter on.
CREATE CONSTRAINT class_name IF NOT EXISTS FOR (k:Class) REQUIRE k.name IS UNIQUE;
CREATE CONSTRAINT image_id IF NOT EXISTS FOR (i:Image) REQUIRE i.id IS UNIQUE;
CREATE CONSTRAINT circuit_id IF NOT EXISTS FOR (c:Circuit) REQUIRE c.id IS UNIQUE;
CREATE CONSTRAINT act_id IF NOT EXISTS FOR (a:Act) REQUIRE a.id IS UNIQUE;
CREATE CONSTRAINT channel_id IF NOT EXISTS FOR (ch:Channel) REQUIRE ch.id IS UNIQUE;
CREATE CONSTRAINT aggstate_class IF NOT EXISTS FOR (s:AggState) REQUIRE s.class IS UNIQUE;
CREATE INDEX image_class IF NOT EXISTS FOR (i:Image) ON (i.class);
CREATE INDEX circuit_image IF NOT EXISTS FOR (c:Circuit) ON (c.image_id);
CREATE INDEX circuit_class IF NOT EXISTS FOR (c:Circuit) ON (c.class);
CREATE INDEX act_class IF NOT EXISTS FOR (a:Act) ON (a.class);
CREATE INDEX act_cid IF NOT EXISTS FOR (a:Act) ON (a.cid);
CREATE INDEX aggtotal_class IF NOT EXISTS FOR (t:AggTotal) ON (t.class);
// The channel atlas: Act.peak, peak_ratio, peak_row, peak_col, grid_h, grid_w and patch_jpeg (bytes) are plain
// properties; channel_examples finds a channel's acts through act_cid and orders them by peak.
// The per-class summaries (cypher/summaries.py): AggTotal nodes, CLASS_EDGE, CLASS_CHANNEL and CLASS_PATH
// relationships from the Class node (found through class_name), so a class question reads only its own.
