/* placeholder: being written (helper: fault-injection sweeps) */
int main(void)
{
	return 77;
}
