"""MuJoCo arm simulator: arm model, task scenes with instructions, scripted expert, episode recording."""
