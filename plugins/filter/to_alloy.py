# -*- coding: utf-8 -*-
# Copyright: fleet.alloy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters fleet.alloy.to_alloy (any value as an Alloy literal) and fleet.alloy.alloy_expr
(mark a string as an expression); their documentation is in to_alloy.yml and alloy_expr.yml."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.fleet.alloy.plugins.module_utils.alloy_syntax import AlloyEncodeError, encode, expr


def _filter(name, func):
    def wrapped(value):
        try:
            return func(value)
        except AlloyEncodeError as err:
            raise AnsibleFilterError("%s: %s" % (name, err))
    wrapped.__name__ = name
    return wrapped


to_alloy = _filter("to_alloy", encode)
alloy_expr = _filter("alloy_expr", lambda text: expr(str(text)))


class FilterModule(object):
    def filters(self):
        return {"to_alloy": to_alloy, "alloy_expr": alloy_expr}
