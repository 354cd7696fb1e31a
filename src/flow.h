/* flow.h - under construction */
