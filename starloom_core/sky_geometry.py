"""Positions on the sky for an observer, from the star catalogue alone (no ephemeris download):
sidereal time, altitude/azimuth and back, and the mean direction of a group of stars. Shared by
the daily pick, the script's closing scene and the sky renderer."""

from __future__ import annotations

import datetime as dt

import numpy as np

J2000_JD = 2451545.0


def local_sidereal_deg(when_utc: dt.datetime, longitude_deg: float) -> float:
    """Local mean sidereal time in degrees (IAU 1982 GMST; well under a degree off over centuries)."""
    jd = when_utc.timestamp() / 86400.0 + 2440587.5
    t = (jd - J2000_JD) / 36525.0
    gmst = 280.46061837 + 360.98564736629 * (jd - J2000_JD) + 0.000387933 * t * t - t ** 3 / 38710000.0
    return float((gmst + longitude_deg) % 360.0)


def alt_az(ra_deg, dec_deg, latitude_deg: float, lst_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Altitude and azimuth (north = 0°, east = 90°) in degrees, ignoring refraction and precession."""
    hour_angle = np.radians((lst_deg - np.asarray(ra_deg, dtype=float)) % 360.0)
    dec, lat = np.radians(np.asarray(dec_deg, dtype=float)), np.radians(latitude_deg)
    sin_alt = np.sin(dec) * np.sin(lat) + np.cos(dec) * np.cos(lat) * np.cos(hour_angle)
    alt = np.arcsin(np.clip(sin_alt, -1.0, 1.0))
    az = np.arctan2(-np.cos(dec) * np.sin(hour_angle), np.sin(dec) * np.cos(lat) - np.cos(dec) * np.sin(lat) * np.cos(hour_angle))
    return np.degrees(alt), np.degrees(az) % 360.0


def equatorial(alt_deg, az_deg, latitude_deg: float, lst_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Altitude/azimuth back to (ra, dec) in degrees for an observer: the inverse of `alt_az`."""
    alt, az, lat = np.radians(alt_deg), np.radians(az_deg), np.radians(latitude_deg)
    dec = np.arcsin(np.clip(np.sin(alt) * np.sin(lat) + np.cos(alt) * np.cos(lat) * np.cos(az), -1, 1))
    hour_angle = np.arctan2(-np.sin(az) * np.cos(alt), np.sin(alt) * np.cos(lat) - np.cos(alt) * np.sin(lat) * np.cos(az))
    return (lst_deg - np.degrees(hour_angle)) % 360.0, np.degrees(dec)


def angular_distance_deg(ra1_deg, dec1_deg, ra2_deg, dec2_deg):
    """The angle between two directions on the sky, in degrees."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=float)) for v in (ra1_deg, dec1_deg, ra2_deg, dec2_deg))
    cos_angle = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(ra1 - ra2)
    return np.degrees(np.arccos(np.clip(cos_angle, -1.0, 1.0)))


def mean_direction(ra_deg, dec_deg) -> tuple[float, float]:
    """The mean direction of a set of stars (unit vectors, so RA 359° and 1° average to 0°)."""
    ra, dec = np.radians(np.asarray(ra_deg, dtype=float)), np.radians(np.asarray(dec_deg, dtype=float))
    x, y, z = (np.cos(dec) * np.cos(ra)).mean(), (np.cos(dec) * np.sin(ra)).mean(), np.sin(dec).mean()
    return float(np.degrees(np.arctan2(y, x)) % 360.0), float(np.degrees(np.arctan2(z, np.hypot(x, y))))
