/* ctl.h - under construction */
