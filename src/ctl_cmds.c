/* ctl_cmds.c - under construction */
