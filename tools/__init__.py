"""Product tooling of fleet.alloy: generated product files and the checks that keep them true.

- varsref: docs/variables.md from the roles' meta/argument_specs.yml;
- argspecs: every variable a role's defaults set is declared in its argument specs;
- alloy_schemas: plugins/plugin_utils/alloy_schema.py (and the Alloy stand-in's schema
  module, lab/standins/alloy_standin/schema_data.py) from alloy-components.json.

Each runs from the repository root as `python3 -m tools.<name>` (the argspecs stage of
./dev test runs varsref and argspecs); none is part of the built collection.
"""
