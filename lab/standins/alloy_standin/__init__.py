"""TEST FIXTURE: a stand-in for the Grafana Alloy binary, used only by the fleet.alloy lab.

The real Alloy cannot be obtained on the lab machines. This package mimics the surface
the collection relies on (shared/docs/alloy-facts.md sections 1, 3, 4, 5): the CLI, a
real parser of the configuration syntax, and the HTTP API of a running agent. The lab
builds it into a zipapp installed as /usr/bin/alloy by its .deb, .rpm and image.
"""
