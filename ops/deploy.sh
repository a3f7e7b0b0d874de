#!/bin/sh
# Demo deploy step: replace with your real deployment. Arguments arrive as separate argv values.
echo "deploy $*"
