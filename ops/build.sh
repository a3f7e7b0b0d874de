#!/bin/sh
# Demo build step: replace with your real build. Arguments arrive as separate argv values.
echo "building $1 at $2"
