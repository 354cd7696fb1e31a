/* trust.h - under construction */
