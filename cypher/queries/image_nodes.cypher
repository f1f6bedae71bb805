// name: image_nodes
// question: Which channels does one image's circuit keep, with their activations?
// param: image_id (str): image id (sha256 of the file's bytes)
// param: kind (str, default "explanation"): circuit kind, original or explanation
// columns: cid, layer, channel, activation, rank
MATCH (c:Circuit)-[:HAS]->(a:Act)
WHERE c.image_id = $image_id AND c.kind = $kind
RETURN a.cid AS cid, a.layer AS layer, a.channel AS channel, a.activation AS activation, a.rank AS rank
ORDER BY layer, rank, cid
