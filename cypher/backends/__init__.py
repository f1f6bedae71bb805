"""The two store backends, one module each: `neo4j` (a Neo4j 5.26 server through the official driver)
and `ladybug` (an embedded LadybugDB 0.22 file). `cypher.open_store` imports the one an address names,
so a process loads only the driver it uses."""
