"""What both REST APIs (hub and site agent) are built with: a route table
(:mod:`.routing`), body declarations that give both the checks and the schema
(:mod:`.schema` shapes, :mod:`.bodies` typed-model bodies), paging (:mod:`.paging`) and the
generated OpenAPI document (:mod:`.openapi`)."""
