# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The name of the runtime contract's fact, and where alloy_env keeps it on the host (host side;
the contract itself is plugins/plugin_utils/runtime.py); the same for alloy_config's record of its
pipelines, which alloy_config_apply keeps (plugins/plugin_utils/pipelines.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

FACT = "alloy_runtime"
FACT_PATH = "/etc/ansible/facts.d/alloy_runtime.fact"
# alloy_config's part: the pipelines it runs and what their backends can tell (plugins/plugin_utils/pipelines.py),
# kept by alloy_config_apply beside the runtime's.
PIPELINES_FACT = "alloy_pipelines"
PIPELINES_FACT_PATH = "/etc/ansible/facts.d/alloy_pipelines.fact"
