// name: store_stats
// question: How much does the store hold?
// columns: classes, images, circuits, acts, flow_edges, logit_links, channels, aggregates
OPTIONAL MATCH (k:Class)
WITH count(k) AS classes
OPTIONAL MATCH (i:Image)
WITH classes, count(i) AS images
OPTIONAL MATCH (c:Circuit)
WITH classes, images, count(c) AS circuits
OPTIONAL MATCH (a:Act)
WITH classes, images, circuits, count(a) AS acts
OPTIONAL MATCH (:Act)-[f:FLOW]->(:Act)
WITH classes, images, circuits, acts, count(f) AS flow_edges
OPTIONAL MATCH (:Act)-[l:LOGIT]->(:Class)
WITH classes, images, circuits, acts, flow_edges, count(l) AS logit_links
OPTIONAL MATCH (ch:Channel)
WITH classes, images, circuits, acts, flow_edges, logit_links, count(ch) AS channels
OPTIONAL MATCH (:Class)-[g:CLASS_EDGE]->(:Channel)
RETURN classes, images, circuits, acts, flow_edges, logit_links, channels, count(g) AS aggregates
