#!/bin/sh
# under construction
exit 77
