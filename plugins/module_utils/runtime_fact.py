# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The name of the runtime contract's fact, and where alloy_env keeps it on the host (host side;
the contract itself is plugins/plugin_utils/runtime.py)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

FACT = "alloy_runtime"
FACT_PATH = "/etc/ansible/facts.d/alloy_runtime.fact"
