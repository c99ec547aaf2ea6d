"""Lab tooling for fleet.alloy: bootstrap, offline images, the lab network and the test stages.

Everything here runs on the controller with the standard library only, so that it can
create the virtual environment that holds Ansible, Molecule and pytest.
"""
