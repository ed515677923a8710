"""HTTP API (Powertools resolvers): integrations routes for the connect function, cost routes for the read API."""
