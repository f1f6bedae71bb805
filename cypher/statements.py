"""The store's own Cypher: the fixed writes, deletes and look-ups that the store methods send.

Named read queries for people live in `cypher/queries/`. Every value here is a parameter; batched rows
arrive as `$rows`. A plain string is the same text on Neo4j 5.26 and LadybugDB 0.22. The batched writes
whose fastest form differs per engine are `Batch`es: one text per dialect, each backend sends its own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Batch:
    """A batched write whose Cypher differs per dialect; its rows go in as `$rows`.

    `ladybug` reads the rows as an Arrow table (`LOAD FROM $rows`, one column per row key): LadybugDB
    scans a table much faster than it unwinds a list parameter. `neo4j` unwinds the list. Neo4j seeks
    the acts created in the same transaction by element id rather than by the unique index on their
    long ids: `returns_element_ids` marks the statement that creates the acts and returns `id, eid` per
    act, and `act_keys` names the row keys that hold act ids, which the Neo4j text takes as element ids.
    Element ids are stable inside one transaction, which is all this relies on.
    """

    ladybug: str
    neo4j: str
    act_keys: tuple[str, ...] = ()
    returns_element_ids: bool = False


# -- replacing one image's circuits ----------------------------------------------------------------

DELETE_IMAGE_ACTS = """
MATCH (c:Circuit)-[:HAS]->(a:Act)
WHERE c.image_id = $image_id
DETACH DELETE a"""

DELETE_IMAGE_CIRCUITS = """
MATCH (c:Circuit)
WHERE c.image_id = $image_id
DETACH DELETE c"""

DELETE_IMAGE = """
MATCH (i:Image)
WHERE i.id = $image_id
DETACH DELETE i"""

MERGE_CLASSES = """
UNWIND $rows AS r
MERGE (k:Class {name: r.name})
ON CREATE SET k.`index` = r.class_index"""

CREATE_IMAGE = """
MATCH (k:Class {name: $class})
CREATE (i:Image {id: $id, path: $path, class: $class, class_index: $class_index, predicted: $predicted,
                 predicted_index: $predicted_index, confidence: $confidence, agrees: $agrees,
                 metrics: $metrics, original_jpeg: $original_jpeg, mask_png: $mask_png,
                 explanation_jpeg: $explanation_jpeg, target_rank: $target_rank, target_rank_e: $target_rank_e,
                 target_confidence: $target_confidence, target_confidence_e: $target_confidence_e,
                 criterion: $criterion, status: $status, recognised: $recognised})-[:OF_CLASS]->(k)"""

CREATE_CIRCUITS = """
UNWIND $rows AS r
MATCH (i:Image {id: r.image_id})
CREATE (i)-[:HAS_CIRCUIT]->(:Circuit {id: r.id, image_id: r.image_id, class: r.class, kind: r.kind,
                                      model: r.model, config: r.config, layers: r.layers,
                                      mask_area: r.mask_area, confidence: r.confidence,
                                      n_nodes: r.n_nodes, n_edges: r.n_edges, metrics: r.metrics,
                                      recognised: r.recognised})"""

CREATE_ACTS = Batch(
    ladybug="""
LOAD FROM $rows
MATCH (c:Circuit {id: circuit_id})
CREATE (c)-[:HAS]->(:Act {id: id, circuit_id: circuit_id, image_id: image_id, class: class, kind: kind,
                          model: model, cid: cid, layer: layer, channel: channel, activation: activation,
                          rank: rank, peak: peak, peak_ratio: peak_ratio, peak_row: peak_row, peak_col: peak_col,
                          grid_h: grid_h, grid_w: grid_w, patch_jpeg: patch_jpeg, recognised: recognised})""",
    neo4j="""
UNWIND $rows AS r
MATCH (c:Circuit {id: r.circuit_id})
CREATE (c)-[:HAS]->(a:Act {id: r.id, circuit_id: r.circuit_id, image_id: r.image_id, class: r.class,
                           kind: r.kind, model: r.model, cid: r.cid, layer: r.layer, channel: r.channel,
                           activation: r.activation, rank: r.rank, peak: r.peak, peak_ratio: r.peak_ratio,
                           peak_row: r.peak_row, peak_col: r.peak_col, grid_h: r.grid_h, grid_w: r.grid_w,
                           patch_jpeg: r.patch_jpeg, recognised: r.recognised})
RETURN a.id AS id, elementId(a) AS eid""",
    returns_element_ids=True,
)

CREATE_FLOWS = Batch(
    ladybug="""
LOAD FROM $rows
MATCH (a:Act {id: src})
MATCH (b:Act {id: dst})
CREATE (a)-[:FLOW {weight: weight}]->(b)""",
    neo4j="""
UNWIND $rows AS r
MATCH (a) WHERE elementId(a) = r.src
MATCH (b) WHERE elementId(b) = r.dst
CREATE (a)-[:FLOW {weight: r.weight}]->(b)""",
    act_keys=("src", "dst"),
)

CREATE_LOGITS = Batch(
    ladybug="""
LOAD FROM $rows
MATCH (a:Act {id: src})
MATCH (k:Class {name: class})
CREATE (a)-[:LOGIT {weight: weight}]->(k)""",
    neo4j="""
UNWIND $rows AS r
MATCH (a) WHERE elementId(a) = r.src
MATCH (k:Class {name: r.class})
CREATE (a)-[:LOGIT {weight: r.weight}]->(k)""",
    act_keys=("src",),
)

MERGE_CHANNELS = Batch(
    ladybug="""
LOAD FROM $rows
MERGE (ch:Channel {id: id})
ON CREATE SET ch.cid = cid, ch.model = model, ch.layer = layer, ch.channel = channel""",
    neo4j="""
UNWIND $rows AS r
MERGE (ch:Channel {id: r.id})
ON CREATE SET ch.cid = r.cid, ch.model = r.model, ch.layer = r.layer, ch.channel = r.channel""",
)

# -- replacing several images' circuits in one transaction (`Store.write_many`) ------------------------
# The same deletes as above for a list of images; the creates are the batched statements above, their
# rows the images' rows together.

DELETE_IMAGES_ACTS = """
MATCH (c:Circuit)-[:HAS]->(a:Act)
WHERE c.image_id IN $image_ids
DETACH DELETE a"""

DELETE_IMAGES_CIRCUITS = """
MATCH (c:Circuit)
WHERE c.image_id IN $image_ids
DETACH DELETE c"""

DELETE_IMAGES = """
MATCH (i:Image)
WHERE i.id IN $image_ids
DETACH DELETE i"""

IMAGES_CLASS = """
MATCH (i:Image)
WHERE i.id IN $image_ids
RETURN i.id AS id, i.class AS class"""

# -- look-ups ----------------------------------------------------------------------------------------

GET_IMAGE = """
MATCH (i:Image)
WHERE i.id = $image_id
RETURN i.id AS id, i.path AS path, i.class AS class_name, i.class_index AS class_index,
       i.predicted AS predicted, i.predicted_index AS predicted_index, i.confidence AS confidence,
       i.metrics AS metrics, i.original_jpeg AS original_jpeg, i.mask_png AS mask_png,
       i.explanation_jpeg AS explanation_jpeg, i.target_rank AS target_rank, i.target_rank_e AS target_rank_e,
       i.target_confidence AS target_confidence, i.target_confidence_e AS target_confidence_e,
       i.criterion AS criterion, i.status AS status"""

# -- the per-class summaries' stale marks (what they hold: cypher/summaries.py) ------------------------
# An (:AggState {class, stale}) per class says whether its AGG edges still match its circuits: every
# write or delete marks the classes it touches stale in its own transaction (first, so that it takes the
# node's lock before a concurrent rebuild can clear the mark), and a rebuild clears the mark in the
# transaction that rewrites the edges. A run killed between the two leaves the mark, and the next run
# (or delete) rebuilds what it finds marked.

IMAGE_CLASS = """
MATCH (i:Image)
WHERE i.id = $image_id
RETURN i.class AS class"""

IMAGE_STATE = """
MATCH (i:Image)
WHERE i.id = $image_id
OPTIONAL MATCH (c:Circuit)
WHERE c.image_id = $image_id AND c.model = $model AND c.config = $config
RETURN i.class AS class, count(c) AS n"""

MARK_STALE = """
UNWIND $classes AS cls
MERGE (s:AggState {class: cls})
SET s.stale = true"""

MARK_BUILT = """
MERGE (s:AggState {class: $cls})
SET s.stale = false, s.version = $version"""

# marked stale, or built by a version whose summaries held less (cypher.summaries.SUMMARY_VERSION)
STALE_CLASSES = """
MATCH (s:AggState)
WHERE s.stale OR s.version IS NULL OR s.version < $version
RETURN s.class AS class"""

# classes whose aggregates were built before there were marks (a store from an earlier version)
UNRECORDED_CLASSES = """
MATCH (i:Image)
WITH DISTINCT i.class AS class
OPTIONAL MATCH (s:AggState)
WHERE s.class = class
WITH class, s
WHERE s IS NULL
RETURN class"""

