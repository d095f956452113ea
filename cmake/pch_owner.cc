// Empty unit: owns the precompiled torch header that every torch target reuses.
