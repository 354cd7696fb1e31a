/* tnl.c - under construction */
