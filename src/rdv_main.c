/* rdv_main.c - under construction */
int main(void);
int main(void)
{
	return 1;
}
