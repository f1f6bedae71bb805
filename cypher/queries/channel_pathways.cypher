// name: channel_pathways
// question: Which two-hop pathways run through a given channel in a class's circuits?
// param: cid (str): channel id of the middle channel, "layer#channel"
// param: cls (str): class name
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: limit (int, default 50): most rows returned
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: src, via, dst, images, fraction, mean_weight
MATCH (c:Circuit)
WHERE c.class = $cls AND c.kind = $kind AND (coalesce(c.recognised, true) OR $include_unrecognised)
WITH count(c) AS total
WHERE total > 0
MATCH (p:Act)-[f1:FLOW]->(a:Act)-[f2:FLOW]->(d:Act)
WHERE a.cid = $cid AND a.class = $cls AND a.kind = $kind
  AND (coalesce(a.recognised, true) OR $include_unrecognised)
WITH total, p.cid AS src, a.cid AS via, d.cid AS dst, count(*) AS n, avg(f1.weight * f2.weight) AS mean_weight
RETURN src, via, dst, n AS images, 1.0 * n / total AS fraction, mean_weight
ORDER BY images DESC, mean_weight DESC, src, dst
LIMIT $limit
