// name: image_circuit
// question: What are the channel-to-channel edges of one image's circuit (original or explanation)?
// param: image_id (str): image id (sha256 of the file's bytes)
// param: kind (str, default "explanation"): circuit kind, original or explanation
// columns: src, dst, src_layer, dst_layer, weight
MATCH (c:Circuit)-[:HAS]->(a:Act)-[f:FLOW]->(b:Act)
WHERE c.image_id = $image_id AND c.kind = $kind
RETURN a.cid AS src, b.cid AS dst, a.layer AS src_layer, b.layer AS dst_layer, f.weight AS weight
ORDER BY weight DESC, src, dst
