// name: image_logits
// question: How do one image's final-layer channels feed the class logits?
// param: image_id (str): image id (sha256 of the file's bytes)
// param: kind (str, default "explanation"): circuit kind, original or explanation
// columns: src, class, class_index, weight
MATCH (c:Circuit)-[:HAS]->(a:Act)-[l:LOGIT]->(k:Class)
WHERE c.image_id = $image_id AND c.kind = $kind
RETURN a.cid AS src, k.name AS class, k.`index` AS class_index, l.weight AS weight
ORDER BY weight DESC, src, class
