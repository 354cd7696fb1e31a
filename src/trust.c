/* trust.c - under construction */
