// name: channel_frequency
// question: In each layer, how often does each channel appear in a class's circuits, and how strongly (scanning every circuit)?
// param: cls (str): class name
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.0): smallest share of the class's circuits that keep the channel
// param: limit (int, default 500): most rows returned
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: layer, cid, images, fraction, mean_activation
MATCH (c:Circuit)
WHERE c.class = $cls AND c.kind = $kind AND (coalesce(c.recognised, true) OR $include_unrecognised)
WITH count(c) AS total
WHERE total > 0
MATCH (a:Act)
WHERE a.class = $cls AND a.kind = $kind AND (coalesce(a.recognised, true) OR $include_unrecognised)
WITH total, a.layer AS layer, a.cid AS cid, count(*) AS n, avg(a.activation) AS mean_activation
WHERE n >= $min_fraction * total
RETURN layer, cid, n AS images, 1.0 * n / total AS fraction, mean_activation
ORDER BY layer, images DESC, cid
LIMIT $limit
