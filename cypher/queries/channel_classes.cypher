// name: channel_classes
// question: For which classes is a channel distinctive, kept in their circuits far more often than in the rest of the store?
// param: cid (str): channel id, "layer#channel"
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.0): smallest share of the class's circuits that keep the channel
// param: prior (float, default 0.5): pseudo-count added to each cell of the in/out x kept/not table
// param: limit (int, default 20): most rows returned
// columns: class, images, images_elsewhere, support, support_elsewhere, lift, log_odds, z, mean_activation, mean_peak
MATCH (c:Circuit)
WHERE c.kind = $kind
WITH count(c) AS total
MATCH (x:Act)
WHERE x.cid = $cid AND x.kind = $kind
WITH total, count(x) AS n_all
MATCH (x:Act)
WHERE x.cid = $cid AND x.kind = $kind
WITH total, n_all, x.class AS cls, count(*) AS n_in, avg(x.activation) AS mean_activation, avg(x.peak) AS mean_peak
MATCH (k:Circuit)
WHERE k.kind = $kind AND k.class = cls
WITH cls, n_in, n_all - n_in AS n_out, count(k) AS total_in, total, mean_activation, mean_peak
WITH cls, n_in, n_out, total_in, total - total_in AS total_out, mean_activation, mean_peak
WHERE n_in >= $min_fraction * total_in
WITH cls, n_in, n_out, total_in, total_out, mean_activation, mean_peak,
     n_in + $prior AS a, total_in - n_in + $prior AS b, n_out + $prior AS c, total_out - n_out + $prior AS d
WITH cls, n_in, n_out, total_in, total_out, mean_activation, mean_peak, a, b, c, d,
     2.302585092994046 * (log10(a / b) - log10(c / d)) AS log_odds
RETURN cls AS class, n_in AS images, n_out AS images_elsewhere, 1.0 * n_in / total_in AS support,
       CASE WHEN total_out > 0 THEN 1.0 * n_out / total_out ELSE 0.0 END AS support_elsewhere,
       (a / (a + b)) / (c / (c + d)) AS lift, log_odds,
       log_odds / sqrt(1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d) AS z, mean_activation, mean_peak
ORDER BY round(log_odds, 9) DESC, images DESC, class
LIMIT $limit
