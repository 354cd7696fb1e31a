/* rdv.h - under construction */
